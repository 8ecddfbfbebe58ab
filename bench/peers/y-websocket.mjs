// The reference y-websocket server (@y/websocket-server), in memory, on 127.0.0.1:$PORT.
// Its script is not in the package's exports, so it is imported by path.
process.env.HOST = '127.0.0.1';
await import('./node_modules/@y/websocket-server/src/server.js');
