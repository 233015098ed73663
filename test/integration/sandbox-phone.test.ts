import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { request } from 'undici';
import { SecSignClient } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

/** The phone page's HTML as a browser gets it. */
async function phonePage(sandbox: Sandbox): Promise<string> {
  const answer = await request(`${sandbox.url}/phone`);
  expect(answer.statusCode).to.equal(200);
  return answer.body.text();
}

describe('sandbox phone page: what a newcomer sees', () => {
  let sandbox: Sandbox;
  let client: SecSignClient;
  beforeEach(async () => {
    sandbox = await startSandbox();
    client = new SecSignClient({ serverUrls: sandbox.secsign.serverUrls });
  });
  afterEach(async () => {
    await client.close();
    await sandbox.close();
  });

  it('SecSign: the newest request comes first and open, with its time; older ones are folded away below it', async () => {
    const sessions = [];
    for (const site of ['first', 'second', 'third']) {
      sessions.push(
        await client.requestAuthSession({
          secsignId: 'alice',
          serviceName: `Example ${site}`,
          serviceAddress: 'https://example.test',
        }),
      );
      await sleep(5); // distinct request times
    }
    const html = await phonePage(sandbox);
    const at = (id: string) => html.indexOf(`value="${id}"`);
    const [first, second, third] = sessions.map((s) => at(s.authSessionId)) as [number, number, number];
    expect(third, 'the newest request').to.be.greaterThan(-1);
    expect(third).to.be.below(second);
    expect(second).to.be.below(first);
    const folded = html.indexOf('<details class="older">');
    expect(folded, 'older requests folded').to.be.greaterThan(third);
    expect(folded).to.be.below(second);
    expect(html).to.include('2 older requests');
    expect(
      html.match(/<h3>SecSign ID: alice <time datetime="[^"]+">\d\d:\d\d:\d\d<\/time><\/h3>/g),
    ).to.have.length(3);
    expect(sandbox.secsign.openRequests().map((r) => r.authSessionId)).to.deep.equal(
      sessions.map((s) => s.authSessionId).reverse(),
    );
  });

  it('Lastwall: the risk dial is there before any check, says how users get on it, and shows named users by name', async () => {
    let html = await phonePage(sandbox);
    expect(html).to.include('<h2>Lastwall risk dial</h2>');
    expect(html).to.include('each user appears here at their first RISC check');
    sandbox.lastwall.nameUser('u1', 'alice');
    html = await phonePage(sandbox);
    expect(html).to.match(/<form class="risk"[^>]*data-user="u1"[^>]*>.*<strong>alice \(u1\)<\/strong>/);
    expect(sandbox.lastwall.users()).to.deep.equal(['u1']);
    expect(sandbox.lastwall.userName('u1')).to.equal('alice');
    expect(() => sandbox.lastwall.nameUser('', 'x')).to.throw(TypeError, /non-empty strings/);
  });

  it('XignIn authorize page: its own style sheet and a link to the phone, under a CSP without unsafe-inline', async () => {
    const { clientId, redirectUri } = sandbox.xignin.newClient({ redirectUri: 'http://127.0.0.1:1/cb' });
    const page = await request(
      `${sandbox.xignin.issuer}/openid/authenticate?${new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: 'openid',
      })}`,
    );
    const csp = String(page.headers['content-security-policy']);
    const html = await page.body.text();
    expect(csp).to.include("style-src 'self'");
    expect(csp).not.to.include('unsafe-inline');
    expect(html).not.to.match(/\sstyle=|<style/);
    expect(html).to.include(`href="${sandbox.url}/phone"`);
    const sheet = /<link rel="stylesheet" href="([^"]+)">/.exec(html)![1]!;
    const css = await request(sheet);
    expect(css.statusCode).to.equal(200);
    expect(String(css.headers['content-type'])).to.match(/^text\/css/);
    await css.body.dump();
  });
});
