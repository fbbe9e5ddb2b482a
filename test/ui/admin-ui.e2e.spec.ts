/**
 * The admin UI (/ui) in a real browser: Debian's Chromium driven headless by playwright-core
 * (no browser download; CHROMIUM_PATH overrides /usr/bin/chromium), against the real
 * orchestrator with tokens, PostgreSQL, RabbitMQ and a scripted participant.
 *
 * Proves, by what the pages show:
 * - the shell is served without a token, with a strict CSP, nosniff and no-referrer, from the
 *   built files only; an unknown token is refused at the login form;
 * - an operator finds a compensated saga by business key (the filter lands in the URL) and its
 *   timeline lists the compensations in the order they ran: the reverse of the steps;
 * - a saga stuck in COMPENSATION_FAILED is listed first on the overview, repaired from its page
 *   with a reason (the dialog names what will happen), finishes COMPENSATED, and the audit
 *   shows who and why;
 * - a parked dead letter is replayed from the UI and reaches its queue; the audit says so;
 * - an admin registers a definition version by pasting JSON (syntax error with its position,
 *   400 errors by path, then 201, then 200 for the same content);
 * - a viewer sees no repair buttons and no dead letters, and the API answers its forbidden
 *   action 403;
 * - no page made a request outside the orchestrator's origin.
 * Screenshots of each page go to test-artifacts/ui/.
 */
import { SagaHeaders } from '#saga/core';
import { queueArguments, topologyNames } from '#saga/messaging';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { TestSystem } from '../e2e/system-harness';
import { waitFor } from '../support/infra';
import { ScriptedParticipant } from '../support/scripted-participant';
import { scriptedSaga, scriptedStep, writeScriptedDefinitions } from '../support/scripted-sagas';

const QUEUE = 'saga.scripted';
const PARKING = 'saga.ui-parking';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');
const TOKENS = { viewer: 'ui-viewer-token-0123456789', operator: 'ui-operator-token-0123456789', admin: 'ui-admin-token-0123456789' } as const;
const AUTH_TOKENS = JSON.stringify([
  { name: 'vera', role: 'viewer', token: TOKENS.viewer },
  { name: 'olga', role: 'operator', token: TOKENS.operator },
  { name: 'ada', role: 'admin', token: TOKENS.admin },
]);

let system: TestSystem;
let participant: ScriptedParticipant;
let browser: Browser;
let folder: string;
let base: string;
let connection: ChannelModel;
let channel: Channel;
const contexts: BrowserContext[] = [];
const requested: string[] = [];
let compensatedId: string;
let stuckId: string;
let deadLetterId: number;

const as = (role: keyof typeof TOKENS) => ({ Authorization: `Bearer ${TOKENS[role]}` });

async function startKeyed(ref: string, plan: Record<string, string[]>): Promise<string> {
  return (await system.startSaga('keyed', { ref, plan }).set(as('operator')).expect(202)).body.id as string;
}

async function statusOf(id: string): Promise<string> {
  return (await system.http().get(`/sagas/${id}`).set(as('operator')).expect(200)).body.status as string;
}

/** A new browser context (its own sessionStorage), with every request recorded. */
async function newPage(width = 1280, height = 900): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height } });
  contexts.push(context);
  context.on('request', (request) => requested.push(request.url()));
  const page = await context.newPage();
  page.on('pageerror', (error) => requested.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) requested.push(`CSP violation: ${message.text()}`);
  });
  return page;
}

async function signIn(page: Page, role: keyof typeof TOKENS): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('Bearer token').fill(TOKENS[role]);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#who strong').waitFor();
}

/**
 * Run in the page (a string: this file is compiled without the DOM types): every visible
 * form control has a label, and every visible text has a contrast of at least 4.5:1 against the
 * nearest opaque background (WCAG's relative luminance). Returns the problems found.
 */
const A11Y_PROBE = `(() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.closest('dialog:not([open])')) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push('no label: ' + el.outerHTML.slice(0, 80));
  }
  const parse = (c) => { const m = /rgba?\\(([^)]+)\\)/.exec(c); if (!m) return null; const p = m[1].split(',').map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.9) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent.trim()) continue;
    seen.add(el);
    if (el.closest('[hidden], .visually-hidden, .skip, noscript, dialog:not([open]), button:disabled') || !el.getClientRects().length) continue;
    const [hi, lo] = [lum(parse(getComputedStyle(el).color)), lum(background(el))].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) problems.push(ratio.toFixed(2) + ':1 ' + el.tagName + ' "' + n.textContent.trim().slice(0, 40) + '"');
  }
  return problems;
})()`;

/** Checks labels and contrast on the page as it is, then saves its screenshot. */
async function shot(page: Page, name: string): Promise<void> {
  expect({ page: name, problems: await page.evaluate<string[]>(A11Y_PROBE) }).toEqual({ page: name, problems: [] });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();

beforeAll(async () => {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: install Debian's chromium (.ci/run does) or set CHROMIUM_PATH`);
  if (!existsSync(join(process.cwd(), 'dist', 'ui', 'main.js'))) throw new Error('the admin UI is not built: npm run build');
  await mkdir(ARTIFACTS, { recursive: true });
  folder = await mkdtemp(join(tmpdir(), 'saga-ui-'));
  await writeScriptedDefinitions(
    folder,
    QUEUE,
    ['a.do', 'a.undo', 'b.do', 'b.undo', 'c.do'],
    [scriptedSaga('keyed', [scriptedStep('a'), scriptedStep('b'), scriptedStep('c', { undo: false })], { withRef: true })],
  );
  system = await TestSystem.start({ participants: false, env: { SAGA_DEFINITIONS_DIR: folder, TIMER_POLL_MS: '50', AUTH_DISABLED: 'false', AUTH_TOKENS } });
  participant = await ScriptedParticipant.start(system.amqpUrl, QUEUE);
  base = (await system.orchestrator.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  // As root (CI), Chromium's sandbox cannot start: that is the only case it is turned off.
  browser = await chromium.launch({ executablePath, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });

  compensatedId = await startKeyed('c-ui-1', { 'c.do': ['fail'] });
  stuckId = await startKeyed('c-ui-stuck', { 'c.do': ['fail'], 'b.undo': ['fail', 'fail', 'fail', 'ok'] });
  await waitFor(async () => (await statusOf(compensatedId)) === 'COMPENSATED', 'the keyed saga to be COMPENSATED');
  await waitFor(async () => (await statusOf(stuckId)) === 'COMPENSATION_FAILED', 'the stuck saga to be COMPENSATION_FAILED');

  // A dead letter whose source queue exists, parked as a participant would park it.
  connection = await connect(system.amqpUrl);
  channel = await connection.createConfirmChannel();
  await channel.assertQueue(PARKING, { durable: true, arguments: queueArguments(topologyNames('saga')) });
  channel.publish('saga.dlx', PARKING, Buffer.from(JSON.stringify({ hello: 'ui' })), {
    persistent: true,
    contentType: 'application/json',
    messageId: 'ui-parked-1',
    headers: { [SagaHeaders.deadLetterReason]: 'handler kept failing (ui test)', [SagaHeaders.deadLetterSource]: PARKING, [SagaHeaders.deadLetteredAt]: Date.now() },
  });
  await (channel as unknown as { waitForConfirms(): Promise<void> }).waitForConfirms();
  deadLetterId = await waitFor(async () => {
    const items = (await system.http().get(`/dead-letters?sourceQueue=${PARKING}`).set(as('operator')).expect(200)).body.items as { id: number }[];
    return items[0]?.id;
  }, 'the parked message to be stored');
}, 120_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await participant?.close();
  await system?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('admin UI in Chromium (e2e)', () => {
  it('serves the shell without a token, with a strict CSP, from the built files only', async () => {
    const shell = await fetch(`${base}/ui`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('content-type')).toMatch(/^text\/html/);
    expect(shell.headers.get('content-security-policy')).toBe(
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(shell.headers.get('x-content-type-options')).toBe('nosniff');
    expect(shell.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await (await fetch(`${base}/ui/`)).text()).toBe(await (await fetch(`${base}/ui`)).text());
    const script = await fetch(`${base}/ui/pages/overview.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const again = await fetch(`${base}/ui/pages/overview.js`, { headers: { 'If-None-Match': script.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
    for (const path of ['/ui/..%2Fpackage.json', '/ui/%2e%2e/%2e%2e/package.json', '/ui/views.ts', '/ui/nope.js']) expect((await fetch(`${base}${path}`)).status).toBe(404);
    // The data behind it is not public.
    expect((await fetch(`${base}/auth/me`)).status).toBe(401);
    expect(await (await fetch(`${base}/auth/me`, { headers: as('operator') })).json()).toEqual({
      name: 'olga',
      role: 'operator',
      may: { read: true, start: true, repair: true, deadLetters: true, registerDefinitions: false },
    });
  });

  it('refuses an unknown token at the login form', async () => {
    const page = await newPage();
    await page.goto(`${base}/ui/`);
    await page.getByLabel('Bearer token').fill('not-a-token-anybody-gave');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.locator('#login-status [role=alert]').textContent()).resolves.toMatch(/not one the orchestrator knows/);
    await shot(page, 'login');
  });

  it('an operator finds a compensated saga by business key and its timeline shows the compensations in reverse step order', async () => {
    const page = await newPage();
    await signIn(page, 'operator');
    await page.locator('#counts-status').waitFor();
    await expect(page.locator('#stuck-failed').textContent()).resolves.toContain(stuckId.slice(0, 8));
    await expect(page.locator('nav a[aria-current=page]').textContent()).resolves.toBe('Overview');
    await expect(page.locator('#updated').textContent()).resolves.toMatch(/Updated \d/);
    await shot(page, 'overview');

    await page.getByRole('link', { name: 'Sagas', exact: true }).click();
    await page.getByLabel('Business key').fill('c-ui-1');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await page.waitForURL(/#\/sagas\?businessKey=c-ui-1$/);
    // The unfiltered list (two sagas) may still be shown for a moment: wait for the filtered one.
    await waitFor(async () => (await page.locator('#saga-table tbody tr a').count()) === 1, 'the list filtered by business key');
    await expect(page.locator('#saga-table tbody tr').textContent()).resolves.toContain('COMPENSATED');
    await shot(page, 'saga-list');
    // A filter the API refuses: its error is shown next to its field.
    await page.goto(`${base}/ui/#/sagas?version=zero`);
    await page.locator('#f-version[aria-invalid=true]').waitFor();
    await expect(page.locator('#err-version').textContent()).resolves.toMatch(/version/);
    await expect(page.locator('#saga-results [role=alert]').textContent()).resolves.toMatch(/^The filter is not valid: version: /);
    await page.goBack();
    // The link can be shared: the same URL in a fresh load shows the same list.
    await page.reload();
    await expect(page.getByLabel('Business key').inputValue()).resolves.toBe('c-ui-1');

    await page.locator('#saga-table tbody tr a').first().click();
    await page.waitForURL(new RegExp(`#/sagas/${compensatedId}$`));
    await page.goBack(); // back works: the filtered list again
    await waitFor(async () => (await page.locator('#saga-table tbody tr a').count()) === 1, 'the filtered list after Back');
    await page.goForward();
    await page.locator('#timeline-compensations').waitFor();
    expect(await page.locator('#timeline-actions tbody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-step')}#${r.getAttribute('data-attempt')}`))).toEqual([
      'a#1',
      'b#1',
      'c#1',
    ]);
    expect(await page.locator('#timeline-compensations tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-step')))).toEqual(['b', 'a']);
    const cRow = await page.locator('#timeline-actions tbody tr[data-step=c]').textContent();
    expect(cRow).toMatch(/business: NOPE/); // the scripted participant's refusal code
    await expect(page.locator('#steps li.pivot').count()).resolves.toBe(0);
    await expect(page.locator('#steps li[data-step=c]').textContent()).resolves.toContain('Undo: none');
    await shot(page, 'saga');
    // A phone's width: the page still works, tables scroll inside their own box.
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, 'saga-phone');
  });

  it('repairs a saga stuck in COMPENSATION_FAILED with a reason; it finishes and the audit shows who and why', async () => {
    const page = await newPage();
    await signIn(page, 'operator');
    await page.locator(`#stuck-failed a[href="#/sagas/${stuckId}"]`).click();
    await page.locator('#steps').waitFor();
    await expect(page.locator('h1').textContent()).resolves.toContain('COMPENSATION_FAILED');
    await expect(page.locator('#steps li[data-step=b] .badge').textContent()).resolves.toBe('COMPENSATION_FAILED');
    const actions = await page.locator('button.repair').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('data-action')));
    expect(actions).toEqual(expect.arrayContaining(['retry-compensation', 'resolve', 'skip-compensation']));
    expect(actions).not.toContain('cancel');

    await page.locator('button[data-action=retry-compensation]').click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.locator('.happens').textContent()).resolves.toBe(
      'The undo of step "b" will be sent again now (attempt 4), with a fresh budget of 3 attempts; when it succeeds the rollback goes on with the earlier steps, in reverse order.',
    );
    await dialog.getByLabel('Reason (required)').fill('gateway fixed (ui test)');
    await shot(page, 'repair-dialog');
    await dialog.getByRole('button', { name: 'Retry the undo', exact: true }).click();
    await expect(page.locator('.notice-ok').textContent()).resolves.toMatch(/Done: undo of step "b" sent again \(attempt 4\) with a fresh retry budget/);

    await waitFor(async () => (await statusOf(stuckId)) === 'COMPENSATED', 'the repaired saga to finish');
    await page.reload();
    await page.locator('#audit').waitFor();
    await expect(page.locator('h1').textContent()).resolves.toContain('COMPENSATED');
    const audit = await texts(page, '#audit tbody tr');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toContain('olga');
    expect(audit[0]).toContain('RETRY_COMPENSATION');
    expect(audit[0]).toContain('gateway fixed (ui test)');
    expect(audit[0]).toContain('APPLIED');
    expect(
      await page.locator('#timeline-compensations tbody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-step')}#${r.getAttribute('data-attempt')}`)),
    ).toEqual(['b#1', 'b#2', 'b#3', 'b#4', 'a#1']);
    await expect(page.locator('#timeline-compensations tbody tr[data-step=b][data-attempt="4"]').textContent()).resolves.toContain('OPERATOR');
    expect(await page.locator('button.repair').count()).toBe(0); // COMPENSATED: nothing applies any more
    await shot(page, 'saga-repaired');

    // Bulk, on the list's filter: a dry run counts, then acting is refused saga by saga (both are COMPENSATED now).
    await page.goto(`${base}/ui/#/sagas?status=COMPENSATED&name=keyed`);
    await page.locator('#bulk summary').click();
    await page.getByLabel('Action').selectOption('cancel');
    await page.getByRole('button', { name: 'Count (dry run)', exact: true }).click();
    await expect(page.locator('#bulk-result .notice-info', { hasText: 'Dry run' }).textContent()).resolves.toBe('Dry run: 2 saga(s) match this filter; nothing was changed.');
    await page.getByRole('button', { name: 'Apply…', exact: true }).click();
    await expect(page.getByRole('dialog').locator('.happens').textContent()).resolves.toContain(
      'will be applied to up to 100 of the sagas this filter matches (status=COMPENSATED&name=keyed)',
    );
    await page.getByRole('dialog').getByLabel('Reason (required)').fill('bulk from the ui test');
    await page.getByRole('dialog').getByRole('button', { name: 'Apply to all matching', exact: true }).click();
    await expect(page.locator('#bulk-result .notice', { hasText: 'Done on' }).textContent()).resolves.toBe('Done on 0, refused 2, failed 0.');
    expect(await page.locator('#bulk-refusals li').count()).toBe(2);
    expect(await statusOf(stuckId)).toBe('COMPENSATED');
  });

  it('replays a parked dead letter; it reaches its queue and the audit says so', async () => {
    const page = await newPage();
    await signIn(page, 'operator');
    await page.getByRole('link', { name: 'Dead letters', exact: true }).click();
    await page.getByLabel('State').selectOption('parked');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL(/#\/dead-letters\?state=parked$/);
    const row = page.locator('#dead-letter-table tbody tr', { hasText: PARKING });
    await expect(row.textContent()).resolves.toContain('handler kept failing (ui test)');
    await shot(page, 'dead-letters');
    await row.getByRole('link', { name: `#${deadLetterId}` }).click();
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.locator('.happens').textContent()).resolves.toContain(`published again to its source queue "${PARKING}"`);
    await dialog.getByLabel('Reason (required)').fill('handler fixed (ui test)');
    await dialog.getByRole('button', { name: 'Replay it', exact: true }).click();
    await page.locator('h1 .badge', { hasText: 'replayed' }).waitFor();
    const audit = await texts(page, '#dl-actions tbody tr');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatch(/olga.*replay.*handler fixed \(ui test\).*replayed/);
    await shot(page, 'dead-letter');
    const replayed = await waitFor(async () => (await channel.get(PARKING, { noAck: true })) || undefined, 'the replayed message in its queue');
    expect(JSON.parse(replayed.content.toString())).toEqual({ hello: 'ui' });
  });

  it('an admin registers a definition version by pasting JSON: syntax and schema errors shown, then 201, then 200', async () => {
    const page = await newPage();
    await signIn(page, 'admin');
    await page.getByRole('link', { name: 'Definitions', exact: true }).click();
    const area = page.getByLabel('Definition JSON (the same as a *.saga.json file)');
    const result = page.locator('#register-result');
    await area.fill('{ "name": "ui-made",\n  "version": 1,, }');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await expect(result.textContent()).resolves.toMatch(/^Not JSON: .*line 2, column \d+/);

    const send = { name: 'send', timeoutMs: 1000, action: { command: 'a.do' } };
    const definition = { name: 'ui-made', version: 1, inputSchema: { type: 'object' }, steps: [send, { name: 'Bad Name', action: {} }] as unknown[] };
    await area.fill(JSON.stringify(definition, null, 2));
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.locator('#register-errors li').first().waitFor();
    const errors = await texts(page, '#register-errors li');
    expect(errors.join('\n')).toMatch(/steps\[1\]/);

    definition.steps = [send];
    await area.fill(JSON.stringify(definition, null, 2));
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await result.locator('.notice-ok, #register-errors').waitFor();
    await expect(result.textContent()).resolves.toMatch(/^Registered ui-made v1 \(201\)/);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await result.locator('.notice-ok', { hasText: '(200)' }).waitFor();
    await shot(page, 'definitions');
    await result.getByRole('link', { name: 'See it', exact: true }).click();
    await expect(page.locator('#step-diagram').textContent()).resolves.toContain('send');
    // A second version, and the diff of the two.
    await page.getByRole('link', { name: 'All definitions', exact: true }).click();
    const undoable = { ...send, compensation: { command: 'a.undo' } };
    await area.fill(JSON.stringify({ ...definition, version: 2, steps: [undoable, { name: 'confirm', timeoutMs: 1000, action: { command: 'b.do' } }] }));
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await result.locator('.notice-ok, .notice-error').waitFor();
    await expect(result.textContent()).resolves.toMatch(/^Registered ui-made v2 \(201\)/);
    await page.goto(`${base}/ui/#/definitions/ui-made?version=2&from=1&to=2`);
    await page.locator('#diff-table').waitFor();
    const diff = await texts(page, '#diff-table tbody tr');
    expect(diff).toEqual(expect.arrayContaining(['steps: confirmadded at 2', 'steps: send.compensationadded{"command":"a.undo"}']));
    await expect(page.locator('#step-diagram li').allTextContents()).resolves.toEqual([expect.stringContaining('send'), expect.stringContaining('confirm')]);
    expect((await system.http().get('/definitions/ui-made/versions').set(as('viewer')).expect(200)).body).toEqual([
      expect.objectContaining({ version: 1, source: 'api', registeredBy: 'ada' }),
      expect.objectContaining({ version: 2, source: 'api', registeredBy: 'ada' }),
    ]);
    await page.goto(`${base}/ui/#/definitions/keyed`);
    await page.locator('#step-diagram').waitFor();
    await shot(page, 'definition');
  });

  it('a viewer sees no repair buttons and no dead letters, and the API refuses its forbidden action with 403', async () => {
    const page = await newPage();
    await signIn(page, 'viewer');
    // Keyboard: the first Tab reaches the skip link, which moves focus to the content and leaves the route alone.
    await page.reload();
    await page.locator('#who strong').waitFor();
    await page.keyboard.press('Tab');
    await expect(page.evaluate<string>('document.activeElement.textContent')).resolves.toBe('Skip to content');
    await page.keyboard.press('Enter');
    await expect(page.evaluate<string>('document.activeElement.id')).resolves.toBe('main');
    expect(new URL(page.url()).hash).toBe('#/');
    await expect(texts(page, 'nav a')).resolves.toEqual(['Overview', 'Sagas', 'Definitions']);
    await page.goto(`${base}/ui/#/sagas/${stuckId}`);
    await page.locator('#steps').waitFor();
    expect(await page.locator('button.repair').count()).toBe(0);
    await page.goto(`${base}/ui/#/sagas?status=COMPENSATED`);
    await page.locator('#saga-table tbody tr a').first().waitFor();
    await page.locator(`#saga-table a[href="#/sagas/${compensatedId}"]`).click();
    await page.locator('#timeline-compensations').waitFor();
    expect(await page.locator('button.repair').count()).toBe(0);
    const status = await page.evaluate(async (id) => {
      const token = sessionStorage.getItem('saga-ui-token');
      const response = await fetch(`/sagas/${id}/resolve`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: '{"reason":"a viewer tries"}',
      });
      return response.status;
    }, compensatedId);
    expect(status).toBe(403);
    await page.goto(`${base}/ui/#/dead-letters`);
    await page.locator('main .notice', { hasText: 'The viewer role may not read dead letters' }).waitFor();

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByLabel('Bearer token').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('saga-ui-token'))).toBeNull();
  });

  it('marks late, duplicate and malformed replies on their attempt with a text label (the built timeline module, in the browser)', async () => {
    const page = await newPage();
    await page.goto(`${base}/ui/`);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const entry = (type: string, s: number, attempt: number, reason: string | null = null, failureType: string | null = null) => ({
      type,
      failureType,
      at: at(s),
      step: 'pay',
      direction: 'action',
      attempt,
      reason,
      detail: null,
    });
    const history = [
      entry('COMMAND_SENT', 0, 1),
      entry('ATTEMPT_TIMED_OUT', 2, 1, 'timeout', 'timeout'),
      entry('COMMAND_SENT', 3, 2),
      entry('LATE_REPLY_IGNORED', 4, 1, 'success', 'late'),
      entry('REPLY_RECEIVED', 5, 2, 'success'),
      entry('DUPLICATE_REPLY_IGNORED', 6, 2, 'success', 'duplicate'),
      entry('MALFORMED_REPLY_PARKED', 7, 2, 'malformed', 'malformed'),
    ];
    // A string, so the test's compiler leaves the browser's dynamic import alone.
    const rows = await page.evaluate(`import('/ui/pages/timeline.js').then((m) => m.attemptsOf(${JSON.stringify(history)}))`);
    expect((rows as { attempt: number; outcome: string; marks: { label: string }[] }[]).map((r) => [r.attempt, r.outcome, r.marks.map((m) => m.label)])).toEqual([
      [1, 'timed out', ['LATE REPLY']],
      [2, 'success', ['DUPLICATE REPLY', 'MALFORMED REPLY']],
    ]);
  });

  it('UI_ENABLED=false: /ui is 404, the API is unchanged', async () => {
    const dark = await startOrchestrator({
      env: system.orchestratorEnv({ SAGA_DEFINITIONS_DIR: folder, AUTH_DISABLED: 'false', AUTH_TOKENS, UI_ENABLED: 'false' }),
      logger: false,
    });
    try {
      const url = (await dark.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
      expect((await fetch(`${url}/ui`)).status).toBe(404);
      expect((await fetch(`${url}/ui/main.js`)).status).toBe(404);
      expect((await fetch(`${url}/auth/me`, { headers: as('viewer') })).status).toBe(200);
    } finally {
      await dark.close();
    }
  });

  it('made no request outside the orchestrator, broke no CSP rule, and no page threw', async () => {
    expect(requested.length).toBeGreaterThan(20);
    const foreign = requested.filter((url) => !url.startsWith(`${base}/`));
    expect(foreign).toEqual([]);
  });
});
