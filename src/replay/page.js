// replaylake's replay page: unpacks a window's events, plays them in rrweb-player, lists the
// recording's moments and jumps to them. State for tests and tools is kept in <body data-*>:
// state (loading, playing, finished), errors (count), window, time (ms played), jumped (ms into
// the window the last jump went to), current (the player's time after it) and total (the
// window's length, after #at=). #render=1 is the mode `replaylake render` drives: only the
// player, at the page's size, no controller, animations off, and window.replaylake.seek().
(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body.dataset;
  const config = JSON.parse($('rl-config').textContent);
  const params = new URLSearchParams(location.hash.slice(1));
  const fail = (message) => {
    body.errors = String(Number(body.errors) + 1);
    const li = document.createElement('li');
    li.textContent = message;
    $('rl-errors').appendChild(li);
  };
  window.addEventListener('error', (e) => fail(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => fail(String(e.reason)));
  const rendering = params.get('render') === '1';
  if (rendering) document.body.classList.add('rl-render');
  // CSS inside the recording while rendering: a frame must not depend on when it is taken
  const FREEZE = ['*, *::before, *::after { animation: none !important; transition: none !important; caret-color: transparent !important; }'];

  async function unpack(b64) {
    const text = atob(b64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return JSON.parse(await new Response(stream).text());
  }

  const clock = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };

  let player = null;
  let current = null;
  let shown = -1;

  function jump(ts) {
    const offset = Math.max(0, ts - current.start);
    player.goto(offset, false);
    body.jumped = String(offset);
    body.current = String(Math.round(player.getReplayer().getCurrentTime()));
  }

  function listMoments() {
    const list = $('rl-moments');
    list.textContent = '';
    for (const m of current.moments) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.dataset.ts = String(m.ts);
      b.innerHTML = '<span class="rl-time"></span><span class="rl-kind"></span><span class="rl-label"></span>';
      b.querySelector('.rl-time').textContent = clock(m.ts - current.start);
      b.querySelector('.rl-kind').textContent = m.kind;
      b.querySelector('.rl-label').textContent = m.label;
      b.addEventListener('click', () => jump(m.ts));
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  async function show(i) {
    current = config.windows[i];
    const events = await unpack($(`rl-events-${i}`).textContent);
    const speed = Number(params.get('speed') || 1);
    const speeds = [...new Set([1, 2, 4, 8, speed])].sort((a, b) => a - b);
    const target = $('rl-player');
    target.textContent = '';
    const props = rendering
      ? { events, width: innerWidth, height: innerHeight, autoPlay: false, showController: false,
          mouseTail: false, insertStyleRules: FREEZE, skipInactive: false }
      : { events, width: config.width, height: config.height, autoPlay: params.get('autoplay') !== '0',
          skipInactive: true, speed, speedOption: speeds, tags: config.tags };
    player = new rrwebPlayer.Player({ target, props });
    shown = i;
    player.getReplayer().on('finish', () => { body.state = 'finished'; });
    player.addEventListener('ui-update-current-time', (e) => { body.time = String(Math.round(e.payload)); });
    body.window = String(i);
    body.state = 'playing';
    listMoments();
    const k = params.get('moment');
    if (k !== null && current.moments[Number(k)]) jump(current.moments[Number(k)].ts);
    // #at=<ms into the window> or #at=end: seek there (every event before it is applied)
    const at = params.get('at');
    if (at !== null) {
      const total = player.getMetaData().totalTime;
      jump(current.start + (at === 'end' ? total : Number(at)));
      body.total = String(total);
    }
  }

  // Waits (up to 1 s) until the recording's images have loaded or failed, and its fonts.
  async function settle(doc) {
    const until = Date.now() + 1000;
    while (Date.now() < until && [...doc.images].some((im) => !im.complete)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (doc.fonts) await doc.fonts.ready;
  }

  // Shows window i as it was just after ts (ms since the epoch): every event at or before ts
  // applied, synchronously, by the Replayer's pause(offset).
  async function seek(i, ts) {
    if (i !== shown) await show(i);
    const r = player.getReplayer();
    r.pause(Math.max(0, ts - r.getMetaData().startTime + 1));
    await settle(r.iframe.contentDocument);
    return Number(body.errors);
  }
  let ready = null;
  window.replaylake = { ready: new Promise((ok, no) => { ready = { ok, no }; }), seek };

  const pick = $('rl-window');
  config.windows.forEach((w, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = `${i + 1}: ${w.events} events${w.id ? ` (${w.id})` : ''}`;
    pick.appendChild(o);
  });
  if (config.windows.length > 1) $('rl-window-pick').hidden = false;
  pick.addEventListener('change', () => show(Number(pick.value)).catch((e) => fail(String(e))));
  const first = Math.min(Number(params.get('window') || 0), config.windows.length - 1);
  pick.value = String(first);
  show(first).then(() => ready.ok(config.windows.length), (e) => { fail(String(e)); ready.no(e); });
})();
