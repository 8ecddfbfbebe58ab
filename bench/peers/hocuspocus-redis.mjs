// Hocuspocus with its Redis extension (@hocuspocus/extension-redis), on 127.0.0.1:$PORT,
// sharing documents with every other such instance through the Redis on $REDIS_PORT:
// the scale-out peer of Pairpad's --redis-url. In memory otherwise, as hocuspocus.mjs.
import { Server } from '@hocuspocus/server';
import { Redis } from '@hocuspocus/extension-redis';

const server = new Server({
  port: Number(process.env.PORT ?? 1234),
  address: '127.0.0.1',
  quiet: true,
  extensions: [new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) })],
});
await server.listen();
console.log(`hocuspocus (redis) listening on ${process.env.PORT}`);
