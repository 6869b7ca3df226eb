'use strict';
// Proof of fidelity: the official Huawei Cloud Node.js SDK drives `rotor-sim ecs` over loopback
// with AK/SK signature checking on, and the simulator's recorded state (/_sim/servers) must
// match what the SDK did. Run by ctest (label `interop`) with ROTOR_SIM=<path of rotor-sim>.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const core = require('@huaweicloud/huaweicloud-sdk-core');
const ecs = require('@huaweicloud/huaweicloud-sdk-ecs');

const SIM = process.env.ROTOR_SIM;
const AK = 'INTEROPACCESSKEY0001';
const SK = 'interop-secret-key-0001-do-not-use';
const PROJECT = '5b7e2c1d9a8f4e3b8c6d1e0f2a3b4c5d';
const SERVERS = 6;

let simulator;
let baseUrl;
let tmpDir;

function client(sk = SK) {
  const credentials = new core.BasicCredentials().withAk(AK).withSk(sk).withProjectId(PROJECT);
  return ecs.EcsClient.newBuilder().withCredential(credentials).withEndpoint(baseUrl).build();
}

async function simServers() {
  const res = await fetch(`${baseUrl}/_sim/servers`);
  assert.equal(res.status, 200);
  return (await res.json()).servers;
}

async function simServer(id) {
  return (await simServers()).find((s) => s.id === id);
}

before(async () => {
  assert.ok(SIM, 'ROTOR_SIM must name the rotor-sim binary');
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotor-interop-'));
  const skFile = path.join(tmpDir, 'sk');
  fs.writeFileSync(skFile, SK, { mode: 0o600 });
  simulator = spawn(SIM, ['ecs', '--listen', '127.0.0.1:0', '--ak', AK, '--sk-file', skFile,
    '--project-id', PROJECT, '--servers', String(SERVERS), '--windows-share', '0.5',
    '--no-plugin-share', '0', '--seed', '7', '--flavor', 'huawei'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  baseUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('rotor-sim did not start in 10 s')), 10000);
    simulator.once('exit', (code) => reject(new Error(`rotor-sim exited with ${code}`)));
    readline.createInterface({ input: simulator.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
  });
  assert.match(baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
});

after(async () => {
  if (simulator && simulator.exitCode === null) {
    const exited = new Promise((resolve) => simulator.once('exit', resolve));
    simulator.kill('SIGTERM');
    await exited;
  }
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

test('ListServersDetails pages by page number and reports the total count', async () => {
  const ids = (await simServers()).map((s) => s.id);
  const first = await client().listServersDetails(
    new ecs.ListServersDetailsRequest().withLimit(4).withOffset(1));
  assert.equal(first.count, SERVERS);
  assert.equal(first.servers.length, 4);
  const second = await client().listServersDetails(
    new ecs.ListServersDetailsRequest().withLimit(4).withOffset(2));
  assert.equal(second.servers.length, SERVERS - 4);
  const listed = [...first.servers, ...second.servers].map((s) => s.id);
  assert.deepEqual(listed.sort(), [...ids].sort());
  for (const server of first.servers) {
    assert.ok(['Linux', 'Windows'].includes(server.metadata.os_type));
    assert.equal(server.status, 'ACTIVE');
  }
});

test('ShowResetPasswordFlag answers the string "True" for a server with the plug-in', async () => {
  const [server] = await simServers();
  const res = await client().showResetPasswordFlag(
    new ecs.ShowResetPasswordFlagRequest().withServerId(server.id));
  // The SDK hands back the JSON object as parsed (snake_case keys).
  assert.equal(res.resetpwd_flag ?? res.resetpwdFlag, 'True');
});

test('BatchResetServersPassword dry run validates without resetting', async () => {
  const servers = (await simServers()).slice(0, 3);
  const body = new ecs.BatchResetServersPasswordRequestBody()
    .withDryRun(true)
    .withServers(servers.map((s) => new ecs.ServerId().withId(s.id)));
  const res = await client().batchResetServersPassword(
    new ecs.BatchResetServersPasswordRequest().withBody(body));
  assert.deepEqual(res.response.map((r) => r.id), servers.map((s) => s.id));
  for (const s of servers) {
    const now = await simServer(s.id);
    assert.equal(now.history.length, 0);
    assert.equal(now.after_restart_password, s.current_password);
  }
});

test('BatchResetServersPassword sets the pending password of every server', async () => {
  const servers = (await simServers()).slice(0, 3);
  const password = 'Interop-Batch.2026';
  const body = new ecs.BatchResetServersPasswordRequestBody()
    .withNewPassword(password)
    .withDryRun(false)
    .withServers(servers.map((s) => new ecs.ServerId().withId(s.id)));
  const res = await client().batchResetServersPassword(
    new ecs.BatchResetServersPasswordRequest().withBody(body));
  assert.equal(res.response.length, 3);
  for (const s of servers) {
    const now = await simServer(s.id);
    assert.equal(now.after_restart_password, password);
    assert.equal(now.current_password, s.current_password, 'effective only after a restart');
    assert.equal(now.history.at(-1).api, 'batch');
  }
});

test('ResetServerPassword (v1 single) is accepted and recorded', async () => {
  const server = (await simServers())[4];
  const password = 'Interop-Single.2026';
  const body = new ecs.ResetServerPasswordRequestBody().withResetPassword(
    new ecs.ResetServerPasswordOption().withNewPassword(password).withIsCheckPassword(true));
  await client().resetServerPassword(
    new ecs.ResetServerPasswordRequest().withServerId(server.id).withBody(body));
  const now = await simServer(server.id);
  assert.equal(now.after_restart_password, password);
  assert.equal(now.history.at(-1).api, 'reset-v1');
});

test('BatchRebootServers returns a job; ShowJob reaches SUCCESS; the password is effective', async () => {
  const server = (await simServers())[4];
  assert.notEqual(server.current_password, server.after_restart_password);
  const option = new ecs.BatchRebootSeversOption()
    .withType('SOFT')
    .withServers([new ecs.ServerId().withId(server.id)]);
  const started = await client().batchRebootServers(
    new ecs.BatchRebootServersRequest().withBody(
      new ecs.BatchRebootServersRequestBody().withReboot(option)));
  const jobId = started.job_id ?? started.jobId;
  assert.match(jobId, /^[0-9a-f]{32}$/);
  let job;
  for (let i = 0; i < 10; i++) {
    job = await client().showJob(new ecs.ShowJobRequest().withJobId(jobId));
    if (job.status === 'SUCCESS' || job.status === 'FAIL') break;
    assert.ok(['INIT', 'RUNNING'].includes(job.status));
  }
  assert.equal(job.status, 'SUCCESS');
  assert.equal(job.entities.sub_jobs_total ?? job.entities.subJobsTotal, 1);
  const now = await simServer(server.id);
  assert.equal(now.current_password, 'Interop-Single.2026');
  assert.equal(now.pending, false);
  assert.equal(now.restarts, 1);
});

test('errors carry the documented codes through the SDK', async () => {
  await assert.rejects(
    client().showResetPasswordFlag(
      new ecs.ShowResetPasswordFlagRequest().withServerId('00000000-0000-4000-8000-000000000000')),
    (err) => {
      assert.equal(Number(err.httpStatusCode), 404);
      assert.equal(err.errorCode, 'Ecs.0114');
      return true;
    });
});

test('a request signed with a wrong SK is refused with APIGW.0301', async () => {
  const before = await simServers();
  const body = new ecs.BatchResetServersPasswordRequestBody()
    .withNewPassword('Interop-Wrong.2026')
    .withServers([new ecs.ServerId().withId(before[5].id)]);
  await assert.rejects(
    client('not-the-secret-key').batchResetServersPassword(
      new ecs.BatchResetServersPasswordRequest().withBody(body)),
    (err) => {
      assert.equal(Number(err.httpStatusCode), 401);
      assert.equal(err.errorCode, 'APIGW.0301');
      return true;
    });
  const after = await simServer(before[5].id);
  assert.equal(after.history.length, 0);
  const stats = await (await fetch(`${baseUrl}/_sim/stats`)).json();
  assert.ok(stats.auth_refused >= 1);
  // What the SDK signed on the accepted requests: X-Project-Id and X-Sdk-Date always.
  const lists = Object.keys(stats.signed_headers);
  assert.ok(lists.length > 0);
  for (const list of lists) {
    assert.ok(list.split(';').includes('x-sdk-date'), list);
    assert.ok(list.split(';').includes('x-project-id'), list);
  }
  assert.ok(lists.includes('content-type;host;x-project-id;x-sdk-date'), lists.join(' '));
});

async function forceFault(fault) {
  const res = await fetch(`${baseUrl}/_sim/faults`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ force: [fault] }),
  });
  assert.equal(res.status, 200);
}

test('Common.0024 throttling arrives as HTTP 202 and the SDK does not raise', async () => {
  const server = (await simServers())[5];
  await forceFault({ class: 'throttle', method: 'PUT', path_contains: 'os-reset-passwords' });
  const body = new ecs.BatchResetServersPasswordRequestBody()
    .withNewPassword('Interop-Throttled.2026')
    .withServers([new ecs.ServerId().withId(server.id)]);
  const res = await client().batchResetServersPassword(
    new ecs.BatchResetServersPasswordRequest().withBody(body));
  // A client must look into 2xx bodies for Common.0024: nothing was reset.
  assert.equal(res.httpStatusCode ?? 202, 202);
  assert.equal(res.error.code, 'Common.0024');
  assert.equal((await simServer(server.id)).history.length, 0);
});

test('a reset applied before the connection was reset surfaces as a network error', async () => {
  const server = (await simServers())[5];
  await forceFault({ class: 'reset_after', method: 'PUT', path_contains: server.id });
  const body = new ecs.ResetServerPasswordRequestBody().withResetPassword(
    new ecs.ResetServerPasswordOption().withNewPassword('Interop-Unknown.2026'));
  await assert.rejects(client().resetServerPassword(
    new ecs.ResetServerPasswordRequest().withServerId(server.id).withBody(body)));
  // The outcome is unknown to the client, yet the simulator applied it.
  assert.equal((await simServer(server.id)).after_restart_password, 'Interop-Unknown.2026');
});
