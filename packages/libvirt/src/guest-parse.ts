/**
 * Parsers of what guests report (sh/guest-status.sh, sh/guest-ready.sh, sh/console-tail.sh). Pure. Everything a guest says
 * is hostile: it is framed by a boundary it cannot know, and only values of the expected shapes (IP
 * addresses, MACs, bounded error strings) come out.
 */
import { isIP } from 'node:net';
import { ParseError } from './errors.ts';

export type AgentState = 'connected' | 'absent' | 'unknown';
export type CloudInitState = 'pending' | 'running' | 'done' | 'error' | 'unknown';

export interface GuestAddress {
  ip: string;
  family: 'ipv4' | 'ipv6';
  mac: string | null;
  source: 'lease' | 'agent' | 'arp';
}

export interface GuestStatus {
  /** virsh's domain state (`running`, `shut off`, …); null when the domain does not exist. */
  state: string | null;
  agent: AgentState;
  cloud_init: CloudInitState;
  addresses: GuestAddress[];
  /** cloud-init's own errors when it is `error` (at most 20, each at most 500 characters). */
  cloud_init_errors?: string[];
}

interface Step {
  rc: number;
  text: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const MAX_ERRORS = 20;
const MAX_ERROR_LEN = 500;

function family(ip: string): 'ipv4' | 'ipv6' | null {
  const v = isIP(ip);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : null;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/**
 * `virsh domifaddr` table rows: `vnet7  52:54:00:1a:82:38  ipv4  192.168.122.187/24`; a second address
 * of the same interface is a row with `-` for name and MAC.
 */
export function parseDomIfAddr(text: string, source: 'lease' | 'arp'): GuestAddress[] {
  const out: GuestAddress[] = [];
  let mac: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+(\S+)\s+(ipv4|ipv6)\s+([0-9A-Fa-f:.]+)(?:\/\d+)?\s*$/.exec(line);
    if (!m?.[2] || !m[4]) continue;
    if (m[2] !== '-') mac = MAC_RE.test(m[2].toLowerCase()) ? m[2].toLowerCase() : null;
    const f = family(m[4]);
    if (f && f === m[3]) out.push({ ip: m[4], family: f, mac, source });
  }
  return out;
}

/** The agent's `guest-network-get-interfaces` answer, without loopback addresses. */
export function parseAgentInterfaces(json: string): GuestAddress[] {
  let ifaces: unknown;
  try {
    ifaces = (JSON.parse(json) as { return?: unknown }).return;
  } catch {
    return [];
  }
  if (!Array.isArray(ifaces)) return [];
  const out: GuestAddress[] = [];
  for (const i of ifaces as { 'hardware-address'?: unknown; 'ip-addresses'?: unknown }[]) {
    const hw = typeof i?.['hardware-address'] === 'string' ? i['hardware-address'].toLowerCase() : '';
    const mac = MAC_RE.test(hw) ? hw : null;
    if (!Array.isArray(i?.['ip-addresses'])) continue;
    for (const a of i['ip-addresses'] as { 'ip-address'?: unknown }[]) {
      const ip = a?.['ip-address'];
      if (typeof ip !== 'string' || isLoopback(ip)) continue;
      const f = family(ip);
      if (f) out.push({ ip, family: f, mac, source: 'agent' });
    }
  }
  return out;
}

/** A `guest-file-read` answer's content, or null when it is not a whole file's. */
export function parseAgentFileRead(json: string): string | null {
  try {
    const r = (JSON.parse(json) as { return?: { 'buf-b64'?: unknown; eof?: unknown } }).return;
    if (typeof r?.['buf-b64'] !== 'string' || r.eof !== true) return null;
    return Buffer.from(r['buf-b64'], 'base64').toString('utf8');
  } catch {
    return null;
  }
}

/** cloud-init's /run/cloud-init/result.json: done, or error with its errors. Unparseable is an error too. */
export function parseCloudInitResult(text: string | null): { cloud_init: 'done' | 'error'; cloud_init_errors?: string[] } {
  let errors: unknown;
  try {
    errors = (JSON.parse(text ?? '') as { v1?: { errors?: unknown } }).v1?.errors;
  } catch {
    errors = undefined;
  }
  if (!Array.isArray(errors)) return { cloud_init: 'error', cloud_init_errors: ['/run/cloud-init/result.json is not cloud-init result'] };
  if (errors.length === 0) return { cloud_init: 'done' };
  return { cloud_init: 'error', cloud_init_errors: errors.slice(0, MAX_ERRORS).map((e) => String(e).slice(0, MAX_ERROR_LEN)) };
}

/**
 * What the agent said when it did not answer: its channel is not connected (no agent running yet, or none
 * in the image) or the agent did not answer within the timeout — both mean no agent to talk to now.
 */
function agentState(ping: Step | undefined): AgentState {
  if (!ping) return 'unknown';
  if (ping.rc === 0) return 'connected';
  return /not connected|not responding|not available|not configured/i.test(ping.text) ? 'absent' : 'unknown';
}

const noSuchFile = (s: Step | undefined) => !!s && s.rc !== 0 && /No such file or directory/.test(s.text);

function cloudInit(steps: Map<string, Step>): Pick<GuestStatus, 'cloud_init' | 'cloud_init_errors'> {
  const result = steps.get('RESULT');
  if (result?.rc === 0) return parseCloudInitResult(parseAgentFileRead(result.text));
  if (!noSuchFile(steps.get('RESULT-OPEN'))) return { cloud_init: 'unknown' };
  // No result yet: status.json exists from cloud-init's first stage on.
  const status = steps.get('STATUS');
  if (status?.rc === 0 && parseAgentFileRead(status.text) !== null) return { cloud_init: 'running' };
  if (noSuchFile(steps.get('STATUS-OPEN'))) return { cloud_init: 'pending' };
  return { cloud_init: 'unknown' };
}

function guestStatusOf(steps: Map<string, Step>): GuestStatus {
  const st = steps.get('STATE');
  const state = st?.rc === 0 ? st.text.trim() : null;
  const addresses: GuestAddress[] = [];
  const lease = steps.get('LEASE');
  if (lease?.rc === 0) addresses.push(...parseDomIfAddr(lease.text, 'lease'));
  const ifaces = steps.get('IFACES');
  if (ifaces?.rc === 0) addresses.push(...parseAgentInterfaces(ifaces.text));
  // `--source arp` fails where libvirt cannot read the neighbour table (e.g. in some containers): no addresses.
  const arp = steps.get('ARP');
  if (arp?.rc === 0) addresses.push(...parseDomIfAddr(arp.text, 'arp'));
  if (state !== 'running') return { state, agent: state === null ? 'unknown' : 'absent', cloud_init: 'unknown', addresses };
  const agent = agentState(steps.get('PING'));
  return { state, agent, ...(agent === 'connected' ? cloudInit(steps) : { cloud_init: 'unknown' }), addresses };
}

/** Parses guest-status.sh output; one entry per VM asked about, keyed by name. */
export function parseGuestStatus(stdout: string, boundary: string): Map<string, GuestStatus> {
  const marker = `@@${boundary} `;
  if (!stdout.split('\n').includes(`${marker}DONE`)) throw new ParseError('guest status output is incomplete', { stdout: stdout.slice(-300) });
  const out = new Map<string, GuestStatus>();
  let vm: string | null = null;
  let steps = new Map<string, Step>();
  let step: { name: string; rc: number; lines: string[] } | null = null;
  const endStep = () => {
    // Each step's output ends with the newline the script adds after it.
    if (step) steps.set(step.name, { rc: step.rc, text: step.lines.join('\n').replace(/\n$/, '') });
    step = null;
  };
  const endVm = () => {
    endStep();
    if (vm !== null) out.set(vm, guestStatusOf(steps));
    vm = null;
    steps = new Map();
  };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(marker)) {
      step?.lines.push(line);
      continue;
    }
    const [kind, arg] = line.slice(marker.length).split(' ', 2);
    if (kind === 'DONE') break;
    if (kind === 'VM') {
      endVm();
      vm = arg ?? null;
    } else if (kind && /^[A-Z-]+$/.test(kind) && /^\d+$/.test(arg ?? '')) {
      endStep();
      step = { name: kind, rc: Number(arg), lines: [] };
    } else throw new ParseError('unexpected guest status marker', { line: line.slice(0, 200) });
  }
  endVm();
  return out;
}

export interface ConsoleTail {
  /** Which file the text is from: `rotated` is the newest backup (virtlogd rolled the log over). */
  source: 'current' | 'rotated';
  text: string;
}

/** console-tail.sh output: null when the VM has no (readable) console log. */
export function parseConsoleTail(stdout: string): ConsoleTail | null {
  const nl = stdout.indexOf('\n');
  const head = nl === -1 ? stdout : stdout.slice(0, nl);
  if (head === 'current' || head === 'rotated') return { source: head, text: stdout.slice(nl + 1) };
  if (head === 'absent' || head === 'unreadable') return null;
  throw new ParseError('unexpected console tail output', { stdout: stdout.slice(0, 200) });
}

/** What guest-ready.sh saw of one VM: its guest status (undefined when not reported) and the console's "finished" line ('' when none). */
export interface GuestReadyFacts {
  status: GuestStatus | undefined;
  console: string;
}

/** Parses guest-ready.sh output; one entry per VM whose CONSOLE section it has, keyed by name. */
export function parseGuestReady(stdout: string, boundary: string): Map<string, GuestReadyFacts> {
  const marker = `@@${boundary} `;
  const consoles = new Map<string, string[]>();
  const rest: string[] = [];
  let inConsole: string[] | null = null;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(`${marker}CONSOLE `)) {
      inConsole = [];
      consoles.set(line.slice(marker.length + 'CONSOLE '.length), inConsole);
    } else if (line.startsWith(marker)) {
      inConsole = null;
      rest.push(line);
    } else if (inConsole) inConsole.push(line);
    else rest.push(line);
  }
  const statuses = parseGuestStatus(rest.join('\n'), boundary);
  const out = new Map<string, GuestReadyFacts>();
  for (const [name, lines] of consoles) out.set(name, { status: statuses.get(name), console: lines.join('\n').replace(/\n+$/, '') });
  return out;
}
