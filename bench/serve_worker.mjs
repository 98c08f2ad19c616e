// The worker behind bench/serve_bench.py, served by `mfbook serve` and by Miniflare 2's CLI.
//   GET /        -> "hello" (a plain response: the cost of serving itself)
//   GET /inc     -> increments the Durable Object COUNTER "a" and returns the count
//   GET /ws      -> a WebSocket that echoes every message
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/inc") {
      return env.COUNTER.get(env.COUNTER.idFromName("a")).fetch(request);
    }
    if (path === "/ws") {
      if (request.headers.get("upgrade") !== "websocket") {
        return new Response("Expected Upgrade: websocket", { status: 426 });
      }
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (event) => server.send(event.data));
      return new Response(null, { status: 101, webSocket: client });
    }
    return new Response("hello");
  },
};

export class Counter {
  constructor(state) {
    this.state = state;
  }
  async fetch() {
    const count = ((await this.state.storage.get("n")) ?? 0) + 1;
    await this.state.storage.put("n", count);
    return new Response(String(count));
  }
}
