// The reference y-websocket server (@y/websocket-server), in memory, on 127.0.0.1:$PORT.
process.env.HOST = '127.0.0.1';
await import('@y/websocket-server/src/server.js').catch(async () => {
  // Older layouts export the script under bin.
  await import('./node_modules/@y/websocket-server/src/server.js');
});
