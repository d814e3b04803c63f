// The capture rules in a real kernel: a "pod" network namespace joined by a veth pair to a
// "remote" one that holds a ClusterIP-like address. With the rules applied by iptables-restore,
// a connection from an application UID to 10.96.0.12:80 lands on the pod's local 15001
// listener, while the proxy's UID (1337) reaches the real 10.96.0.12:80; exclusions, loopback
// and the proxy's own ports go straight through, and inbound connections land on 15006.
// Needs root, `ip netns` and iptables; without them the tests are skipped and the reason is
// printed and put in the suite's name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { applyCaptureRules, captureRules, DEFAULT_CAPTURE, type CaptureSettings } from '../../src/injection/capture.js';

const id = `${process.pid % 100000}`;
const POD_NS = `sy-pod-${id}`;
const REMOTE_NS = `sy-remote-${id}`;
const POD_IP = '10.244.0.5';
const REMOTE_IP = '10.244.0.1';
const CLUSTER_IP = '10.96.0.12';
const EXCLUDED_CIDR_IP = '10.97.0.7';
const APP_UID = 1000;

const SETTINGS: CaptureSettings = {
  ...DEFAULT_CAPTURE,
  excludeOutboundPorts: [5432],
  excludeOutboundCidrs: ['10.97.0.0/16'],
  excludeInboundPorts: [9090],
};

function run(command: string, args: string[], input?: string): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', input });
  return {
    ok: !result.error && result.status === 0,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.trim(),
  };
}

/** Why this machine cannot run the test, or undefined when it can. */
function missingCapability(): string | undefined {
  if (process.getuid?.() !== 0) return `not root (uid ${process.getuid?.()}): ip netns and iptables need CAP_SYS_ADMIN and CAP_NET_ADMIN`;
  if (!run('iptables-restore', ['--version']).ok) return 'no iptables-restore on PATH (Debian: apt-get install iptables)';
  const probe = `sy-probe-${id}`;
  const added = run('ip', ['netns', 'add', probe]);
  if (!added.ok) return `ip netns add fails here: ${added.output}`;
  const nat = run('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-L', '-n']);
  run('ip', ['netns', 'del', probe]);
  if (!nat.ok) return `iptables cannot use the nat table in a network namespace: ${nat.output}`;
  return undefined;
}

const skipReason = missingCapability();
if (skipReason) process.stderr.write(`capture-netns: skipped: ${skipReason}\n`);
const netnsTest = skipReason ? test.skip : test;

// A process in a namespace that answers each TCP port with a label: "port=label,...".
const LISTENER = `
const net = require('node:net');
const specs = process.argv[1].split(',').map((s) => s.split('='));
let left = specs.length;
for (const [where, label] of specs) {
  const [host, port] = where.includes(':') ? where.split(':') : ['0.0.0.0', where];
  net.createServer((socket) => socket.end(label)).listen(Number(port), host, () => { if (--left === 0) console.log('ready'); });
}`;

// Connects as a UID from inside a namespace and prints what the other end said.
const CLIENT = `
const net = require('node:net');
const [uid, host, port] = process.argv.slice(1);
process.setgid(Number(uid));
process.setuid(Number(uid));
const socket = net.connect(Number(port), host);
let data = '';
socket.setTimeout(3000, () => { console.log('timeout'); process.exit(0); });
socket.on('data', (chunk) => (data += chunk));
socket.on('end', () => { console.log(data); process.exit(0); });
socket.on('error', (error) => { console.log('error ' + error.code); process.exit(0); });`;

const listeners: ChildProcess[] = [];

function startListener(namespace: string, specs: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '-e', LISTENER, specs], { stdio: ['ignore', 'pipe', 'pipe'] });
  listeners.push(child);
  return new Promise((resolve, reject) => {
    let errors = '';
    child.stderr!.on('data', (chunk) => (errors += chunk));
    child.stdout!.on('data', (chunk) => String(chunk).includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`listener in ${namespace} exited ${code}: ${errors}`)));
  });
}

/** What a connection from `uid` in `namespace` to host:port reaches (the listener's label). */
function connectAs(namespace: string, uid: number, host: string, port: number): string {
  const result = spawnSync('ip', ['netns', 'exec', namespace, process.execPath, '-e', CLIENT, String(uid), host, String(port)], {
    encoding: 'utf8',
  });
  return `${result.stdout}${result.stderr}`.trim();
}

function must(command: string, args: string[]): void {
  const result = run(command, args);
  if (!result.ok) throw new Error(`${command} ${args.join(' ')}: ${result.output}`);
}

beforeAll(async () => {
  if (skipReason) return;
  const podSide = `sy-p${id}`;
  const remoteSide = `sy-r${id}`;
  must('ip', ['netns', 'add', POD_NS]);
  must('ip', ['netns', 'add', REMOTE_NS]);
  must('ip', ['link', 'add', podSide, 'type', 'veth', 'peer', 'name', remoteSide]);
  must('ip', ['link', 'set', podSide, 'netns', POD_NS]);
  must('ip', ['link', 'set', remoteSide, 'netns', REMOTE_NS]);
  const inPod = (...args: string[]) => must('ip', ['netns', 'exec', POD_NS, 'ip', ...args]);
  const inRemote = (...args: string[]) => must('ip', ['netns', 'exec', REMOTE_NS, 'ip', ...args]);
  inPod('link', 'set', 'lo', 'up');
  inPod('addr', 'add', `${POD_IP}/24`, 'dev', podSide);
  inPod('link', 'set', podSide, 'up');
  inPod('route', 'add', 'default', 'via', REMOTE_IP);
  inRemote('link', 'set', 'lo', 'up');
  inRemote('addr', 'add', `${REMOTE_IP}/24`, 'dev', remoteSide);
  inRemote('addr', 'add', `${CLUSTER_IP}/32`, 'dev', remoteSide);
  inRemote('addr', 'add', `${EXCLUDED_CIDR_IP}/32`, 'dev', remoteSide);
  inRemote('link', 'set', remoteSide, 'up');
  // The rules go in the way the init container puts them: one iptables-restore in the pod's namespace.
  applyCaptureRules(captureRules(SETTINGS), ['ip', 'netns', 'exec', POD_NS, 'iptables-restore']);
  await Promise.all([
    startListener(POD_NS, '15001=proxy-outbound,15006=proxy-inbound,15021=proxy-health,8080=app,9090=app-metrics'),
    startListener(REMOTE_NS, `${CLUSTER_IP}:80=cluster-ip-80,${CLUSTER_IP}:5432=cluster-ip-5432,${EXCLUDED_CIDR_IP}:80=excluded-cidr`),
  ]);
}, 30_000);

afterAll(() => {
  for (const child of listeners) child.kill();
  if (skipReason) return;
  // Deleting a namespace deletes the veth end in it, and with it the pair.
  run('ip', ['netns', 'del', POD_NS]);
  run('ip', ['netns', 'del', REMOTE_NS]);
});

describe(skipReason ? `capture rules in a network namespace (skipped: ${skipReason})` : 'capture rules in a network namespace', () => {
  netnsTest('the installed nat table is the generated one', () => {
    const saved = run('ip', ['netns', 'exec', POD_NS, 'iptables-save', '-t', 'nat']).output;
    expect(saved).toContain(`-A SWITCHYARD_OUTBOUND -m owner --uid-owner 1337 -j RETURN`);
    expect(saved).toContain(`-A SWITCHYARD_OUTBOUND -p tcp -j REDIRECT --to-ports 15001`);
    expect(saved).toContain(`-A SWITCHYARD_INBOUND -p tcp -j REDIRECT --to-ports 15006`);
  });

  netnsTest("an application's connection to a ClusterIP lands on the proxy's 15001 listener", () => {
    expect(connectAs(POD_NS, APP_UID, CLUSTER_IP, 80)).toBe('proxy-outbound');
    expect(connectAs(POD_NS, 0, CLUSTER_IP, 80)).toBe('proxy-outbound');
  });

  netnsTest("the proxy's own UID is not captured: it reaches the ClusterIP itself", () => {
    expect(connectAs(POD_NS, 1337, CLUSTER_IP, 80)).toBe('cluster-ip-80');
  });

  netnsTest('excluded outbound ports and CIDRs, and loopback, go straight through', () => {
    expect(connectAs(POD_NS, APP_UID, CLUSTER_IP, 5432)).toBe('cluster-ip-5432');
    expect(connectAs(POD_NS, APP_UID, EXCLUDED_CIDR_IP, 80)).toBe('excluded-cidr');
    expect(connectAs(POD_NS, APP_UID, '127.0.0.1', 8080)).toBe('app');
    expect(connectAs(POD_NS, APP_UID, POD_IP, 8080)).toBe('app');
  });

  netnsTest("inbound connections land on 15006, except the proxy's ports and excluded ports", () => {
    expect(connectAs(REMOTE_NS, APP_UID, POD_IP, 8080)).toBe('proxy-inbound');
    expect(connectAs(REMOTE_NS, APP_UID, POD_IP, 15021)).toBe('proxy-health');
    expect(connectAs(REMOTE_NS, APP_UID, POD_IP, 9090)).toBe('app-metrics');
  });

  netnsTest('applying the rules again leaves the same table (an init container that runs twice)', () => {
    const before = run('ip', ['netns', 'exec', POD_NS, 'iptables-save', '-t', 'nat']).output.replace(/^#.*$/gm, '');
    applyCaptureRules(captureRules(SETTINGS), ['ip', 'netns', 'exec', POD_NS, 'iptables-restore']);
    const after = run('ip', ['netns', 'exec', POD_NS, 'iptables-save', '-t', 'nat']).output.replace(/^#.*$/gm, '');
    expect(after.replace(/\[\d+:\d+\]/g, '')).toBe(before.replace(/\[\d+:\d+\]/g, ''));
    expect(connectAs(POD_NS, APP_UID, CLUSTER_IP, 80)).toBe('proxy-outbound');
  });
});
