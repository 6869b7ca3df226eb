// node-vault (npm) against `rotor-sim vault` on 127.0.0.1: AppRole login, KV v2 write with CAS,
// read (with `<>&` escaped by the server as Go does), a CAS conflict, metadata read, token
// lookup and renewal (including the max-TTL cap), and an expired token. Run by ctest (label
// `interop`) with ROTOR_SIM pointing at the built rotor-sim.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const nodeVault = require('node-vault');

const ROLE_ID = 'interop-role';
const SECRET_ID = 'interop-secret-id-0001';
const PASSWORD = 'Tr0ub4dor&3<x>';
const TIMEOUT = { timeout: 20000 };

let sim;
let address;
let dir;
let vault;

function firstLine(stream, ms) {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error('rotor-sim did not print its address')), ms);
    stream.on('data', (chunk) => {
      buffer += chunk.toString();
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(buffer.slice(0, newline).trim());
      }
    });
    stream.on('end', () => reject(new Error('rotor-sim exited before printing its address')));
  });
}

// POST to the simulator's test-only control endpoints.
function control(name, body) {
  const url = new URL(`/_sim/${name}`, address);
  const payload = JSON.stringify(body || {});
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
      });
    request.on('error', reject);
    request.end(payload);
  });
}

before(async () => {
  assert.ok(process.env.ROTOR_SIM, 'ROTOR_SIM must point at the rotor-sim binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotor-vault-interop-'));
  const secretFile = path.join(dir, 'secret_id');
  fs.writeFileSync(secretFile, `${SECRET_ID}\n`, { mode: 0o600 });
  sim = spawn(process.env.ROTOR_SIM, ['vault', '--listen', '127.0.0.1:0', '--approle',
    `${ROLE_ID}:${secretFile}`, '--token-ttl', '600', '--token-max-ttl', '900', '--seed', '7'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  address = await firstLine(sim.stdout, 10000);
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
  vault = nodeVault({ apiVersion: 'v1', endpoint: address });
});

after(async () => {
  if (sim && sim.exitCode === null) {
    const exited = new Promise((resolve) => sim.on('exit', resolve));
    sim.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, 'rotor-sim vault exits 0 on SIGTERM');
  }
  if (dir) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('health answers as an active, unsealed node', TIMEOUT, async () => {
  const health = await vault.health();
  assert.equal(health.initialized, true);
  assert.equal(health.sealed, false);
  assert.equal(health.standby, false);
});

test('AppRole login gives a renewable token that node-vault adopts', TIMEOUT, async () => {
  const login = await vault.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
  assert.match(login.auth.client_token, /^hvs\./);
  assert.equal(login.auth.lease_duration, 600);
  assert.equal(login.auth.renewable, true);
  assert.deepEqual(login.auth.policies, ['default', 'rotor']);
  assert.equal(login.auth.metadata.role_name, 'rotor');
  assert.equal(vault.token, login.auth.client_token);
});

test('a wrong secret_id is refused with 400', TIMEOUT, async () => {
  const other = nodeVault({ apiVersion: 'v1', endpoint: address });
  await assert.rejects(other.approleLogin({ role_id: ROLE_ID, secret_id: 'wrong' }), (error) => {
    assert.equal(error.response.statusCode, 400);
    assert.equal(error.message, 'invalid role or secret ID');
    return true;
  });
});

test('KV v2 create-only write, read back with <>& intact', TIMEOUT, async () => {
  const written = await vault.write('secret/data/servers/db01', {
    options: { cas: 0 },
    data: { username: 'root', password: PASSWORD },
  });
  assert.equal(written.data.version, 1);
  assert.equal(written.data.destroyed, false);
  const read = await vault.read('secret/data/servers/db01');
  assert.equal(read.data.data.password, PASSWORD);
  assert.equal(read.data.data.username, 'root');
  assert.equal(read.data.metadata.version, 1);
});

test('a stale CAS is a 400 conflict and changes nothing', TIMEOUT, async () => {
  await assert.rejects(vault.write('secret/data/servers/db01', {
    options: { cas: 0 }, data: { password: 'other' },
  }), (error) => {
    assert.equal(error.response.statusCode, 400);
    assert.equal(error.message, 'check-and-set parameter did not match the current version');
    return true;
  });
  const next = await vault.write('secret/data/servers/db01', {
    options: { cas: 1 }, data: { username: 'root', password: 'second' },
  });
  assert.equal(next.data.version, 2);
  const old = await vault.read('secret/data/servers/db01?version=1');
  assert.equal(old.data.data.password, PASSWORD);
});

test('metadata read shows versions and custom_metadata', TIMEOUT, async () => {
  await vault.write('secret/metadata/servers/db01', {
    max_versions: 5, custom_metadata: { state: 'current', rotated_by: 'rotor' },
  });
  const meta = await vault.read('secret/metadata/servers/db01');
  assert.equal(meta.data.current_version, 2);
  assert.equal(meta.data.oldest_version, 0);
  assert.equal(meta.data.max_versions, 5);
  assert.deepEqual(Object.keys(meta.data.versions).sort(), ['1', '2']);
  assert.deepEqual(meta.data.custom_metadata, { rotated_by: 'rotor', state: 'current' });
});

test('a missing secret is a 404', TIMEOUT, async () => {
  await assert.rejects(vault.read('secret/data/servers/none'), (error) => {
    assert.equal(error.response.statusCode, 404);
    return true;
  });
});

test('token lookup and renewal, capped by the max TTL', TIMEOUT, async () => {
  const looked = await vault.tokenLookupSelf();
  assert.equal(looked.data.renewable, true);
  assert.ok(looked.data.ttl > 0 && looked.data.ttl <= 600);
  const renewed = await vault.tokenRenewSelf({ increment: 600 });
  assert.equal(renewed.auth.lease_duration, 600);
  assert.equal(renewed.warnings, null);
  assert.equal(await control('advance', { seconds: 500 }), 204);
  const capped = await vault.tokenRenewSelf({ increment: '10m' });
  assert.ok(capped.auth.lease_duration <= 400, `lease ${capped.auth.lease_duration}`);
  assert.match(capped.warnings[0], /^TTL of "10m0s" exceeded the effective max_ttl of ".*"; TTL value is capped accordingly$/);
});

test('an expired token is refused with 403 invalid token', TIMEOUT, async () => {
  assert.equal(await control('expire-token', {}), 204);
  await assert.rejects(vault.read('secret/data/servers/db01'), (error) => {
    assert.equal(error.response.statusCode, 403);
    assert.match(error.message, /invalid token/);
    return true;
  });
  await vault.approleLogin({ role_id: ROLE_ID, secret_id: SECRET_ID });
  const read = await vault.read('secret/data/servers/db01');
  assert.equal(read.data.metadata.version, 2);
});
