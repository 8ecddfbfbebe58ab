//! The pages a browser opens: `/` and `/r/{roomId}`.

use axum::response::Html;

/// Landing page.
pub async fn landing() -> Html<&'static str> {
    Html(LANDING)
}

/// Room page.
pub async fn room() -> Html<&'static str> {
    Html(LANDING)
}

const LANDING: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Pairpad</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>Pairpad</h1>
<p>Real-time pair programming. This server speaks the Yjs sync protocol, so any Yjs client
can join a room.</p>
<h2>Create a room</h2>
<pre>curl -X POST -H 'content-type: application/json' \
  -d '{"title": "Bug bash", "language": "rust"}' \
  http://HOST/api/rooms</pre>
<p>Then connect a <code>y-websocket</code> <code>WebsocketProvider('ws://HOST/ws', roomId, doc)</code>
and edit <code>doc.getText('code')</code>.</p>
</body>
</html>
"#;
