// The VM page's one script, served from /ui/assets (the CSP allows no inline script). It follows jobs
// live (EventSource on the session-authenticated /ui/jobs/{id}/events relay) and keeps a VM's state
// current (polls /ui/vms/{region}/{name}/state). Everything written into the page goes through
// textContent: no guest or user text is ever parsed as HTML.

const TERMINAL = ['succeeded', 'failed', 'canceled'];

function setStateBadge(el, state) {
  el.textContent = state;
  el.className = `state state-${String(state).replace(/[^a-z]+/g, '-')}`;
}

function renderJob(panel, view) {
  const bar = panel.querySelector('progress');
  if (bar) bar.value = view.progress;
  const pct = panel.querySelector('[data-job-progress]');
  if (pct) pct.textContent = `${Math.round(view.progress)}%`;
  const state = panel.querySelector('[data-job-state]');
  if (state) setStateBadge(state, view.state);
  panel.dataset.state = view.state;
  const list = panel.querySelector('.steps');
  if (list) {
    list.replaceChildren(
      ...view.steps.map((s) => {
        const li = document.createElement('li');
        li.className = `s-${s.state}`;
        li.textContent = s.detail ? `${s.name} — ${s.detail}` : s.name;
        return li;
      }),
    );
  }
  const err = panel.querySelector('[data-job-error]');
  if (err) err.textContent = view.error ? `${view.error.code}: ${view.error.message}` : '';
}

function followJob(panel) {
  if (TERMINAL.includes(panel.dataset.state)) return;
  const source = new EventSource(panel.dataset.events);
  for (const name of ['snapshot', 'state', 'step', 'progress']) {
    source.addEventListener(name, (e) => {
      const view = JSON.parse(e.data);
      renderJob(panel, view);
      if (TERMINAL.includes(view.state)) source.close();
    });
  }
  source.addEventListener('error', (e) => {
    // A named `error` event: the relay says the stream broke; show it and stop. A dropped connection
    // (no data) is retried by EventSource itself, which starts again with a `snapshot`.
    if (!e.data) return;
    source.close();
    const err = panel.querySelector('[data-job-error]');
    if (err) err.textContent = JSON.parse(e.data).message;
  });
}

function pollVm(el) {
  const url = el.dataset.poll;
  const tick = async () => {
    try {
      const r = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (r.status === 404) {
        setStateBadge(el.querySelector('[data-vm-state]'), 'deleted');
        return;
      }
      if (r.ok) {
        const vm = await r.json();
        setStateBadge(el.querySelector('[data-vm-state]'), vm.state);
        const t = el.querySelector('[data-vm-transition]');
        if (t) t.textContent = vm.transition ? `${vm.transition.kind}: ${vm.transition.detail ?? ''}` : '';
        const ip = el.querySelector('[data-vm-ip]');
        if (ip) ip.textContent = vm.ip ?? '—';
      }
    } catch {
      // The next tick tries again.
    }
    setTimeout(tick, 2000);
  };
  setTimeout(tick, 1000);
}

for (const panel of document.querySelectorAll('[data-job][data-events]')) followJob(panel);
for (const el of document.querySelectorAll('[data-poll]')) pollVm(el);
