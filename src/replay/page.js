// replaylake's replay page: unpacks a window's events, plays them in rrweb-player, lists the
// recording's moments and jumps to them. State for tests and tools is kept in <body data-*>:
// state (loading, playing, finished), errors (count), window, time (ms played), jumped (ms into
// the window the last jump went to), current (the player's time after it) and total (the
// window's length, after #at=).
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
    player = new rrwebPlayer.Player({
      target,
      props: {
        events,
        width: config.width,
        height: config.height,
        autoPlay: params.get('autoplay') !== '0',
        skipInactive: true,
        speed,
        speedOption: speeds,
        tags: config.tags,
      },
    });
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
  show(first).catch((e) => fail(String(e)));
})();
