// socket.js: the websocket that reconnects with backoff, the ids of the
// messages this console sends, and the server's clock: the ones of
// shared/lib.js, which the widget uses too.
export const { newID, wsURL, Socket, Clock } = Lib;
