// The VM page's one script, served from /ui/assets (the CSP allows no inline script). It follows jobs
// live (EventSource on the session-authenticated /ui/jobs/{id}/events relay) and keeps a VM's page
// current (polls /ui/vms/{region}/{name}/state). Text it writes itself goes through textContent; the
// only markup it inserts is the server's own rendering of the page's sections, escaped there.

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

/** Whether someone is editing the tag form in `section` (typed into it, or is in it). */
function editing(section) {
  const area = section.querySelector('textarea');
  return Boolean(area) && (area.value !== area.defaultValue || document.activeElement === area);
}

/**
 * Keeps a VM's page current: every 2 s (5 s while the tab is hidden) …/state renders the page's live
 * sections as they are now, and each whose data-key changed replaces the one on the page. Their markup
 * is the server's own rendering (src/ui/pages/vm.ts), where every user and guest string was escaped: it
 * is parsed inert (a <template>) and nothing in it runs (the CSP allows no inline script anyway). The tag
 * form is not replaced while someone edits it (or after a refused save, data-hold): it says instead that
 * the tags changed, since its save would be refused.
 */
function pollVm(root) {
  const url = root.dataset.poll;
  const tick = async () => {
    let delay = document.hidden ? 5000 : 2000;
    try {
      if (!document.hidden) {
        const r = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
        // Signed out (or the token lost its scope): the page stops following.
        if (r.status === 401 || r.status === 403) return;
        if (r.ok) {
          const view = await r.json();
          for (const [name, markup] of Object.entries(view.sections)) {
            const el = root.querySelector(`[data-live="${name}"]`);
            if (!el) continue;
            const t = document.createElement('template');
            t.innerHTML = markup;
            const fresh = t.content.firstElementChild;
            if (!fresh || fresh.dataset.key === el.dataset.key) continue;
            if (name === 'tags' && (el.hasAttribute('data-hold') || editing(el))) {
              const drawn = el.querySelector('input[name="etag"]');
              const note = el.querySelector('[data-tags-note]');
              if (note && drawn && drawn.value !== view.etag)
                note.textContent = 'The VM changed since this form was drawn: saving it will be refused. Reload the page to see its tags now.';
              continue;
            }
            el.replaceWith(fresh);
          }
        } else delay = 5000;
      }
    } catch {
      // The next tick tries again.
      delay = 5000;
    }
    setTimeout(tick, delay);
  };
  setTimeout(tick, 1000);
}

for (const panel of document.querySelectorAll('[data-job][data-events]')) followJob(panel);
for (const el of document.querySelectorAll('[data-poll]')) pollVm(el);
