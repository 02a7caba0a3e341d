'use strict';
/*
 * node_bench.js: the Node peer of the isolate benchmarks.
 *
 *   rt     child_process.fork IPC round trip of {msg: n}, process.send
 *          and on('message') on both sides, us a round trip
 *   spawn  child_process.fork + first message + exit, ms a spawn
 *
 * Run as `/usr/bin/node bench/peers/node_bench.js`; it forks itself as
 * the child (with an argument). QUICK=1 in the environment runs 3 short
 * rounds. Prints one JSON object a measurement on stdout and nothing
 * else; the node version and any error go to stderr. Exits 1 if a
 * measurement fails.
 */
const { fork } = require('child_process');

const TIMEOUT_MS = 20000;	// a peer silent this long has failed

// ---- children -------------------------------------------------------

if (process.argv[2] === 'echo') {
  // Echo every message; disconnecting (the parent's end) ends it.
  process.on('message', (m) => process.send(m));
  return;
}
if (process.argv[2] === 'hello') {
  process.send({ msg: 0 }, () => process.disconnect());
  return;
}

// ---- parent ---------------------------------------------------------

const children = new Set();

function log(...args) {
  console.error('node_bench:', ...args);
}

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

function emit(bench, unit, better, values) {
  values = values.slice().sort((a, b) => a - b);
  const r3 = (x) => Math.round(x * 1000) / 1000;
  const fields = {
    bench, impl: 'node', unit,
    median: r3(values[values.length >> 1]),
    min: r3(values[0]), max: r3(values[values.length - 1]),
    rounds: values.length, better,
  };
  // The same spacing as the C and Python peers print.
  process.stdout.write('{' + Object.entries(fields).map(([k, v]) =>
    `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ') + '}\n');
}

function start(role) {
  const child = fork(__filename, [role], { stdio: ['ignore', 'ignore',
    'inherit', 'ipc'] });
  children.add(child);
  child.exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (code === 0)
        resolve();
      else
        reject(new Error(`${role} child exited ${code} ${signal || ''}`));
    });
  });
  child.exited.catch(() => {});	// surfaced where awaited
  return child;
}

function withTimeout(p, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out`)),
      TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// Resolves after iters round trips, each message checked.
function rtBatch(child, iters) {
  return new Promise((resolve, reject) => {
    let k = 0;
    const onMessage = (m) => {
      if (!m || m.msg !== (k & 0x7f)) {
        done(new Error('rt: echo differs from the message sent'));
        return;
      }
      if (++k === iters) {
        done(null);
        return;
      }
      child.send({ msg: k & 0x7f });
    };
    const onExit = () => done(new Error('rt: peer exited'));
    function done(err) {
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err)
        reject(err);
      else
        resolve();
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.send({ msg: 0 });
  });
}

async function benchRt(rounds, iters) {
  const child = start('echo');
  await withTimeout(rtBatch(child, Math.floor(iters / 10) + 1), 'rt');
  const values = [];
  for (let r = 0; r < rounds; r++) {
    const t = now();
    await withTimeout(rtBatch(child, iters), 'rt');
    values.push((now() - t) / iters * 1e6);
  }
  child.disconnect();
  await withTimeout(child.exited, 'rt: reaping the peer');
  log(`rt: ${rounds} rounds of ${iters} IPC round trips`);
  emit('rt', 'us', 'lower', values);
}

async function spawnOne() {
  const child = start('hello');
  const first = new Promise((resolve, reject) => {
    child.once('message', (m) => {
      if (m && m.msg === 0)
        resolve();
      else
        reject(new Error('spawn: wrong first message'));
    });
    child.once('exit', () => reject(new Error('spawn: no message')));
  });
  await withTimeout(first, 'spawn: first message');
  await withTimeout(child.exited, 'spawn: exit');
}

async function benchSpawn(rounds, iters) {
  await spawnOne();	// warm up
  const values = [];
  for (let r = 0; r < rounds; r++) {
    const t = now();
    for (let k = 0; k < iters; k++)
      await spawnOne();
    values.push((now() - t) / iters * 1e3);
  }
  log(`spawn: ${rounds} rounds of ${iters} fork+first message+exit`);
  emit('spawn', 'ms', 'lower', values);
}

async function main() {
  const quick = !['', '0', undefined].includes(process.env.QUICK);
  log(`node ${process.version} (${process.execPath})`);
  if (quick) {
    await benchRt(3, 500);
    await benchSpawn(3, 2);
  } else {
    await benchRt(9, 20000);
    await benchSpawn(5, 10);
  }
}

main().then(() => {
  process.exitCode = 0;
}, (err) => {
  log(`error: ${err.message}`);
  for (const c of children)
    c.kill('SIGKILL');
  process.exitCode = 1;
});
