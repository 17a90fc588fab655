import { describe, expect, it } from 'vitest';
import { encodeConversation, feedbackButtons } from '../src/adapters/chat/ids.ts';

describe('conversation ids', () => {
  it('keep the stored formats, so existing databases keep their threads', () => {
    expect(encodeConversation({ platform: 'discord', threadId: '1234567890123' })).toBe('discord:1234567890123');
    expect(encodeConversation({ platform: 'slack', channel: 'C0123', threadTs: '1700000100.000200' })).toBe('slack:C0123:1700000100.000200');
  });

  it('refuse parts that would make two conversations share an id', () => {
    expect(() => encodeConversation({ platform: 'discord', threadId: '' })).toThrow(TypeError);
    expect(() => encodeConversation({ platform: 'discord', threadId: 'a b' })).toThrow(TypeError);
    // "C1:x" + "1.2" and "C1" + "x:1.2" would both be slack:C1:x:1.2.
    expect(() => encodeConversation({ platform: 'slack', channel: 'C1:x', threadTs: '1.2' })).toThrow(TypeError);
    expect(() => encodeConversation({ platform: 'slack', channel: 'C1', threadTs: 'x:1.2' })).toThrow(TypeError);
  });
});

describe('feedback buttons', () => {
  it("Discord's custom ids are fb:<rating>:<answer id>, both ways", () => {
    expect(feedbackButtons.discord.encode({ rating: 'up', answerId: 7 })).toBe('fb:up:7');
    expect(feedbackButtons.discord.decode('fb:down:12')).toEqual({ rating: 'down', answerId: 12 });
    for (const id of ['fb:up:', 'fb:sideways:1', 'fb:up:0', 'fb:up:01', 'fb:up:1:2', 'xx:up:1', 'fb:up:1e3', `fb:up:${'9'.repeat(17)}`]) {
      expect(feedbackButtons.discord.decode(id), id).toBeUndefined();
    }
  });

  it("Slack's buttons carry the rating in the action id and the answer id as the value, both ways", () => {
    expect(feedbackButtons.slack.encode({ rating: 'down', answerId: 3 })).toEqual({ action_id: 'feedback_down', value: '3' });
    expect(feedbackButtons.slack.decode({ action_id: 'feedback_up', value: '5' })).toEqual({ rating: 'up', answerId: 5 });
    expect(feedbackButtons.slack.decode({ action_id: 'feedback_up', value: '' })).toBeUndefined();
    expect(feedbackButtons.slack.decode({ action_id: 'feedback_meh', value: '5' })).toBeUndefined();
  });
});
