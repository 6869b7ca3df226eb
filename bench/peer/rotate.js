'use strict';
// The benchmark's peer (bench/fleet.py, docs/benchmarks.md): what a team would write with the
// official Huawei Cloud Node.js SDK and node-vault to do Rotor's unique-mode rotation, with the
// same Vault traffic per server: list the fleet (pages of 100), and per server, CONCURRENCY at a
// time: probe the reset plug-in, read the secret, write the new password as pending with
// check-and-set (create-only), mirror the state into custom_metadata, reset through the v1 API
// with is_check_password, commit with check-and-set, mirror again. Configuration comes from the
// environment (ECS_URL, VAULT_URL, AK, SK_FILE, PROJECT, VAULT_TOKEN_FILE, CONCURRENCY).
const crypto = require('node:crypto');
const fs = require('node:fs');

const core = require('@huaweicloud/huaweicloud-sdk-core');
const ecs = require('@huaweicloud/huaweicloud-sdk-ecs');

const env = process.env;
const vault = require('node-vault')({
  apiVersion: 'v1',
  endpoint: env.VAULT_URL,
  token: fs.readFileSync(env.VAULT_TOKEN_FILE, 'utf8').trim(),
});
const credentials = new core.BasicCredentials()
  .withAk(env.AK).withSk(fs.readFileSync(env.SK_FILE, 'utf8').trim()).withProjectId(env.PROJECT);
const client = ecs.EcsClient.newBuilder().withCredential(credentials).withEndpoint(env.ECS_URL)
  .build();
const concurrency = Number(env.CONCURRENCY || '16');

const classes = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!@%-_=+[]:./?'];
const alphabet = classes.join('');
function password(length = 20) {
  for (;;) {
    let out = '';
    for (let i = 0; i < length; ++i) out += alphabet[crypto.randomInt(alphabet.length)];
    if (out[0] !== '/' && classes.every((c) => [...out].some((ch) => c.includes(ch)))) return out;
  }
}

const kv = (id) => `secret/data/ecs/bench/${env.PROJECT}/${id}`;
const meta = (id) => `secret/metadata/ecs/bench/${env.PROJECT}/${id}`;

async function rotate(server) {
  const username = (server.metadata && server.metadata.os_type === 'Windows') ? 'Administrator' : 'root';
  const flag = await client.showResetPasswordFlag(
    new ecs.ShowResetPasswordFlagRequest().withServerId(server.id));
  if (String(flag.resetpwd_flag ?? flag.resetpwdFlag) !== 'True') throw new Error(`no reset plug-in on ${server.id}`);
  let version = 0;
  let current;
  try {
    const read = await vault.read(kv(server.id));
    version = read.data.metadata.version;
    current = read.data.data;
  } catch (e) {
    if (!e.response || e.response.statusCode !== 404) throw e;
  }
  for (let attempt = 1; ; ++attempt) {
    const next = password();
    const pending = { ...(current || {}), username, pending_password: next, state: 'pending' };
    const written = await vault.write(kv(server.id), { options: { cas: version }, data: pending });
    version = written.data.version;
    await vault.write(meta(server.id), { custom_metadata: { state: 'pending' } });
    try {
      const body = new ecs.ResetServerPasswordRequestBody().withResetPassword(
        new ecs.ResetServerPasswordOption().withNewPassword(next).withIsCheckPassword(true));
      await client.resetServerPassword(
        new ecs.ResetServerPasswordRequest().withServerId(server.id).withBody(body));
    } catch (e) {
      if (Number(e.httpStatusCode) === 400 && attempt < 3) continue;  // a password the rules refused: a new one
      throw e;
    }
    const committed = { username, password: next, state: 'awaiting_restart',
      rotated_at: new Date().toISOString() };
    if (current && current.password) committed.previous_password = current.password;
    await vault.write(kv(server.id), { options: { cas: version }, data: committed });
    await vault.write(meta(server.id), { custom_metadata: { state: 'awaiting_restart' } });
    return;
  }
}

async function main() {
  const servers = [];
  for (let page = 1; ; ++page) {
    const answer = await client.listServersDetails(
      new ecs.ListServersDetailsRequest().withLimit(100).withOffset(page));
    servers.push(...answer.servers);
    if (answer.servers.length < 100) break;
  }
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < servers.length) {
      const server = servers[next++];
      try {
        await rotate(server);
      } catch (e) {
        ++failed;
        console.error(`rotation failed server=${server.id}: ${e.message || e.errorMsg || e}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  console.error(`rotated ${servers.length - failed} of ${servers.length}`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => { console.error(e); process.exitCode = 2; });
