/**
 * Small hand-written SVG charts for BENCHMARKS.md (no charting dependency): a line chart of series over
 * x values (with an optional target line) and a bar chart. Pure functions returning the SVG text.
 */

export interface Series {
  name: string;
  points: Array<[x: number, y: number]>;
}

const W = 560;
const H = 300;
const M = { left: 64, right: 150, top: 36, bottom: 48 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`);
const num = (v: number) => (v >= 1000 ? v.toLocaleString('en-US') : Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 1 : 0));

/** A "nice" upper bound for an axis (1, 2 or 5 times a power of ten). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(title: string, yLabel: string, yMax: number): string[] {
  const ph = H - M.top - M.bottom;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" role="img" aria-label="${esc(title)}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const y = M.top + ph - (ph * i) / 4;
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${num(v)}</text>`);
  }
  return out;
}

/** Series over x (drawn on a log scale when `logX`), each a polyline with its points marked. */
export function lineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  target?: { y: number; label: string };
  logX?: boolean;
}): string {
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const yMax = niceMax(Math.max(...ys, o.target?.y ?? 0) * 1.1);
  const fx = o.logX ? Math.log10 : (v: number) => v;
  const x0 = fx(Math.min(...xs));
  const x1 = fx(Math.max(...xs));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number) => M.left + (x1 === x0 ? pw / 2 : ((fx(x) - x0) / (x1 - x0)) * pw);
  const py = (y: number) => M.top + ph - (y / yMax) * ph;
  const out = frame(o.title, o.yLabel, yMax);
  for (const x of [...new Set(xs)]) {
    out.push(`<text x="${px(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${num(x)}</text>`);
  }
  out.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  if (o.target) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(o.target.y).toFixed(1)}" y2="${py(o.target.y).toFixed(1)}" stroke="#888" stroke-dasharray="5 4"/>`,
    );
    out.push(`<text x="${W - M.right + 6}" y="${(py(o.target.y) + 4).toFixed(1)}" fill="#555">${esc(o.target.label)}</text>`);
  }
  o.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) {
      out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${c}"/>`);
      out.push(`<text x="${px(p[0]).toFixed(1)}" y="${(py(p[1]) - 7).toFixed(1)}" text-anchor="middle" fill="${c}">${num(p[1])}</text>`);
    }
    out.push(`<rect x="${W - M.right + 6}" y="${M.top + 18 * i + 20}" width="10" height="10" fill="${c}"/>`);
    out.push(`<text x="${W - M.right + 20}" y="${M.top + 18 * i + 29}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** One bar per value, labelled, with an optional target line. */
export function barChart(o: { title: string; yLabel: string; bars: Array<{ label: string; value: number }>; target?: { y: number; label: string } }): string {
  const yMax = niceMax(Math.max(...o.bars.map((b) => b.value), o.target?.y ?? 0) * 1.1);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const py = (y: number) => M.top + ph - (y / yMax) * ph;
  const out = frame(o.title, o.yLabel, yMax);
  const slot = pw / o.bars.length;
  o.bars.forEach((b, i) => {
    const x = M.left + slot * i + slot * 0.2;
    const w = slot * 0.6;
    out.push(
      `<rect x="${x.toFixed(1)}" y="${py(b.value).toFixed(1)}" width="${w.toFixed(1)}" height="${(M.top + ph - py(b.value)).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    out.push(`<text x="${(x + w / 2).toFixed(1)}" y="${(py(b.value) - 5).toFixed(1)}" text-anchor="middle">${num(b.value)}</text>`);
    out.push(`<text x="${(x + w / 2).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(b.label)}</text>`);
  });
  if (o.target) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(o.target.y).toFixed(1)}" y2="${py(o.target.y).toFixed(1)}" stroke="#888" stroke-dasharray="5 4"/>`,
    );
    out.push(`<text x="${W - M.right + 6}" y="${(py(o.target.y) + 4).toFixed(1)}" fill="#555">${esc(o.target.label)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
