// mfbook prelude: random.js — the isolate's CSPRNG.
//
// JS cannot ask Python for entropy synchronously (docs/ARCHITECTURE.md, section 1), so random
// bytes come from a ChaCha20 keystream generator living in the isolate. Python calls
// `__mfHost.seed(hex)` with 32 fresh bytes of os.urandom before every delivery; the seed is
// *mixed into* the key (key' = ChaCha20(key XOR seed) block), never replacing it, so a weak or
// repeated seed can not make the state worse. Output uses fast key erasure: every refill
// produces a new key from the head of the keystream before handing out the rest, so a later
// state disclosure does not reveal bytes already given out.
//
// Installs: __mfHost.seed(hex64), __mfHost.randomBytes(n) -> Uint8Array.
(function (host) {
  "use strict";

  var BLOCKS_PER_REFILL = 16; // 1 KiB of keystream per refill, 32 bytes of it become the key
  var key = new Uint32Array(8);
  var counter = 0;
  var x = new Uint32Array(16);
  var st = new Uint32Array(16);
  var pool = new Uint8Array(64 * BLOCKS_PER_REFILL);
  var poolWords = new Uint32Array(pool.buffer);
  var poolPos = pool.length; // empty

  function block(nonce0, nonce1, nonce2, out, outOffset) {
    // ChaCha20 block (RFC 8439) with the 32-bit counter in word 12 and nonce in words 13..15.
    st[0] = 0x61707865; st[1] = 0x3320646e; st[2] = 0x79622d32; st[3] = 0x6b206574;
    for (var i = 0; i < 8; i++) st[4 + i] = key[i];
    st[12] = counter; st[13] = nonce0; st[14] = nonce1; st[15] = nonce2;
    counter = (counter + 1) >>> 0;
    var x0 = st[0], x1 = st[1], x2 = st[2], x3 = st[3], x4 = st[4], x5 = st[5], x6 = st[6],
      x7 = st[7], x8 = st[8], x9 = st[9], x10 = st[10], x11 = st[11], x12 = st[12],
      x13 = st[13], x14 = st[14], x15 = st[15], t;
    for (var r = 0; r < 10; r++) {
      x0 = (x0 + x4) | 0; t = x12 ^ x0; x12 = (t << 16) | (t >>> 16);
      x8 = (x8 + x12) | 0; t = x4 ^ x8; x4 = (t << 12) | (t >>> 20);
      x0 = (x0 + x4) | 0; t = x12 ^ x0; x12 = (t << 8) | (t >>> 24);
      x8 = (x8 + x12) | 0; t = x4 ^ x8; x4 = (t << 7) | (t >>> 25);
      x1 = (x1 + x5) | 0; t = x13 ^ x1; x13 = (t << 16) | (t >>> 16);
      x9 = (x9 + x13) | 0; t = x5 ^ x9; x5 = (t << 12) | (t >>> 20);
      x1 = (x1 + x5) | 0; t = x13 ^ x1; x13 = (t << 8) | (t >>> 24);
      x9 = (x9 + x13) | 0; t = x5 ^ x9; x5 = (t << 7) | (t >>> 25);
      x2 = (x2 + x6) | 0; t = x14 ^ x2; x14 = (t << 16) | (t >>> 16);
      x10 = (x10 + x14) | 0; t = x6 ^ x10; x6 = (t << 12) | (t >>> 20);
      x2 = (x2 + x6) | 0; t = x14 ^ x2; x14 = (t << 8) | (t >>> 24);
      x10 = (x10 + x14) | 0; t = x6 ^ x10; x6 = (t << 7) | (t >>> 25);
      x3 = (x3 + x7) | 0; t = x15 ^ x3; x15 = (t << 16) | (t >>> 16);
      x11 = (x11 + x15) | 0; t = x7 ^ x11; x7 = (t << 12) | (t >>> 20);
      x3 = (x3 + x7) | 0; t = x15 ^ x3; x15 = (t << 8) | (t >>> 24);
      x11 = (x11 + x15) | 0; t = x7 ^ x11; x7 = (t << 7) | (t >>> 25);
      // diagonal rounds
      x0 = (x0 + x5) | 0; t = x15 ^ x0; x15 = (t << 16) | (t >>> 16);
      x10 = (x10 + x15) | 0; t = x5 ^ x10; x5 = (t << 12) | (t >>> 20);
      x0 = (x0 + x5) | 0; t = x15 ^ x0; x15 = (t << 8) | (t >>> 24);
      x10 = (x10 + x15) | 0; t = x5 ^ x10; x5 = (t << 7) | (t >>> 25);
      x1 = (x1 + x6) | 0; t = x12 ^ x1; x12 = (t << 16) | (t >>> 16);
      x11 = (x11 + x12) | 0; t = x6 ^ x11; x6 = (t << 12) | (t >>> 20);
      x1 = (x1 + x6) | 0; t = x12 ^ x1; x12 = (t << 8) | (t >>> 24);
      x11 = (x11 + x12) | 0; t = x6 ^ x11; x6 = (t << 7) | (t >>> 25);
      x2 = (x2 + x7) | 0; t = x13 ^ x2; x13 = (t << 16) | (t >>> 16);
      x8 = (x8 + x13) | 0; t = x7 ^ x8; x7 = (t << 12) | (t >>> 20);
      x2 = (x2 + x7) | 0; t = x13 ^ x2; x13 = (t << 8) | (t >>> 24);
      x8 = (x8 + x13) | 0; t = x7 ^ x8; x7 = (t << 7) | (t >>> 25);
      x3 = (x3 + x4) | 0; t = x14 ^ x3; x14 = (t << 16) | (t >>> 16);
      x9 = (x9 + x14) | 0; t = x4 ^ x9; x4 = (t << 12) | (t >>> 20);
      x3 = (x3 + x4) | 0; t = x14 ^ x3; x14 = (t << 8) | (t >>> 24);
      x9 = (x9 + x14) | 0; t = x4 ^ x9; x4 = (t << 7) | (t >>> 25);
    }
    x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3; x[4] = x4; x[5] = x5; x[6] = x6; x[7] = x7;
    x[8] = x8; x[9] = x9; x[10] = x10; x[11] = x11; x[12] = x12; x[13] = x13; x[14] = x14;
    x[15] = x15;
    for (var j = 0; j < 16; j++) out[outOffset + j] = (x[j] + st[j]) | 0;
  }

  function refill() {
    // Little-endian words are assumed (every QuickJS host we run on is little-endian).
    for (var b = 0; b < BLOCKS_PER_REFILL; b++) block(0, 0, 0, poolWords, b * 16);
    for (var i = 0; i < 8; i++) key[i] = poolWords[i];
    pool.fill(0, 0, 32);
    poolPos = 32;
  }

  function mix(bytes) {
    // key' = first 8 words of ChaCha20(key XOR seed) with a domain-separating nonce.
    for (var i = 0; i < 8; i++) {
      key[i] ^= (bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) |
        (bytes[4 * i + 3] << 24));
    }
    var out = new Uint32Array(16);
    block(0x5eed, 0, 0, out, 0);
    for (var k = 0; k < 8; k++) key[k] = out[k];
    counter = 0;
    poolPos = pool.length; // discard buffered output made under the old key
  }

  function seed(hex) {
    hex = String(hex);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError("seed must be 64 hex digits");
    var bytes = new Uint8Array(32);
    for (var i = 0; i < 32; i++) bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
    mix(bytes);
  }

  function randomBytes(n) {
    n = n >>> 0;
    var out = new Uint8Array(n);
    var filled = 0;
    while (filled < n) {
      if (poolPos === pool.length) refill();
      var take = Math.min(n - filled, pool.length - poolPos);
      out.set(pool.subarray(poolPos, poolPos + take), filled);
      pool.fill(0, poolPos, poolPos + take);
      poolPos += take;
      filled += take;
    }
    return out;
  }

  // Until the host seeds us, start from whatever weak entropy the engine has; the kernel seeds
  // before the first delivery, and seeding only ever adds entropy.
  var boot = new Uint8Array(32);
  for (var i = 0; i < 32; i++) boot[i] = (Math.random() * 256) & 255;
  boot[0] ^= Date.now() & 255;
  mix(boot);

  // Known-answer hook for tests (RFC 8439 section 2.3.2): one raw block for a given key,
  // counter and 12-byte nonce; leaves the generator state untouched.
  function chacha20Block(keyBytes, blockCounter, nonceBytes) {
    var savedKey = key.slice(), savedCounter = counter;
    var kw = new Uint32Array(new Uint8Array(keyBytes).buffer);
    var nw = new Uint32Array(new Uint8Array(nonceBytes).buffer);
    key.set(kw);
    counter = blockCounter >>> 0;
    var out = new Uint32Array(16);
    block(nw[0], nw[1], nw[2], out, 0);
    key.set(savedKey);
    counter = savedCounter;
    return new Uint8Array(out.buffer);
  }

  host.seed = seed;
  host.chacha20Block = chacha20Block;
  host.randomBytes = randomBytes;
})(globalThis.__mfHost);
