import { startFakeOllama } from '/work/main/test/helpers/fake-ollama.ts';
const fake = await startFakeOllama({ chatReply: () => 'Hello world, é😀!' , chunkSize: 5});
const { execSync } = await import('node:child_process');
for (const cmd of [
  `curl -si ${fake.url}/api/chat -d '{"model":"llama3.2","messages":[{"role":"user","content":"x"}]}'`,
  `curl -si ${fake.url}/api/embed -d '{"model":"nope","input":"x"}'`,
  `curl -si ${fake.url}/api/nothing`,
  `curl -s ${fake.url}/api/tags`,
]) console.log(execSync(cmd).toString(), '\n=====');
await fake.close();
