// Browser test of the webserv demo site. Run it with tests/browser/run.sh,
// which serves the shipped conf/default.conf (only its port changed) and a
// copy of conf/https.conf (ports and certificate paths changed) with a CA of
// its own, and sets the variables below. Headless Chromium from Debian,
// driven by playwright-core.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const origin = (u) => (u || '').replace(/\/$/, '');
const BASE = origin(process.env.BASE_URL || 'http://127.0.0.1:8080');
const HTTPS = origin(process.env.HTTPS_URL);             // the demo over TLS
const REDIRECT = origin(process.env.REDIRECT_URL);       // plain HTTP that redirects to HTTPS
const UPLOAD_DIR = process.env.UPLOAD_DIR || '';         // checked on disk when set
const UPLOAD_MANIFEST = process.env.UPLOAD_MANIFEST || ''; // names stored there, removed by run.sh
const WWW_DIR = process.env.WWW_DIR || '';               // the served site, for SCRIPT_FILENAME
const CHROMIUM_HOME = process.env.CHROMIUM_HOME || '';   // a HOME whose NSS database trusts the test CA
const IGNORE_CERT_ERRORS = process.env.IGNORE_CERT_ERRORS === '1';
const ARTIFACTS = process.env.ARTIFACTS || path.resolve(here, '../artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP = 10_000;          // ms, any single browser action
const TEST = 30_000;          // ms, one test as a whole

// Links of the home page that are meant to fail: its "custom 404 page" example.
const EXPECTED_404 = new Set(['/this-page-does-not-exist']);

mkdirSync(ARTIFACTS, { recursive: true });

let browser, context, page;
const pageErrors = [];

async function shot(name) {
    await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true, timeout: STEP });
}

function noPageErrors() {
    assert.deepEqual(pageErrors.splice(0), [], 'JavaScript errors on the page');
}

// Say, before storing it, that the test is about to create www/uploads/NAME:
// run.sh removes every name listed, whatever happens to the test.
function willCreate(name) {
    if (UPLOAD_MANIFEST)
        appendFileSync(UPLOAD_MANIFEST, name + '\n');
}

// Wait for a file's row to leave the list; on failure, say what the page says.
async function rowGone(row, what) {
    try {
        await row.waitFor({ state: 'detached' });
    } catch (e) {
        const status = await page.locator('#status').innerText({ timeout: 1000 }).catch(() => '?');
        throw new Error(`${what} is still listed after DELETE; the page says: "${status}"`, { cause: e });
    }
}

// Wait until the list page has no listing, upload or delete under way.
async function idle() {
    await page.waitForFunction(() => document.body.dataset.busy === 'false', null, { timeout: STEP });
}

// The list page's status line, once idle, must match.
async function statusSays(re, what) {
    await idle();
    const status = (await page.locator('#status').textContent({ timeout: STEP })) || '';
    assert.match(status, re, `${what}: the page's status line`);
}

// The "no files" note shows exactly when the list is empty (www/uploads is
// the real one: it may hold files of someone else's).
async function emptyNoteAgrees() {
    await idle();
    const rows = await page.locator('#file-list tr').count();
    await page.locator('#empty').waitFor({ state: rows === 0 ? 'visible' : 'hidden' });
}

function reEscape(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

// The value of one CGI variable in the scripts' #cgi-vars table.
async function cgiVar(name) {
    const row = page.locator('#cgi-vars tr').filter({ has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) });
    return (await row.locator('td').innerText({ timeout: STEP })).trim();
}

// Load the home page at `base`; every response it causes (the page, its
// style sheet and images) must be below 400.
async function loadHome(base) {
    const bad = [];
    const onResponse = (r) => { if (r.status() >= 400) bad.push(`${r.status()} ${r.url()}`); };
    page.on('response', onResponse);
    try {
        const resp = await page.goto(base + '/');
        assert.equal(resp.status(), 200, `GET ${base}/ status`);
        assert.match(await page.title(), /^webserv/);
        await page.locator('h1').first().waitFor();
        await page.waitForLoadState('load');
    } finally {
        page.off('response', onResponse);
    }
    assert.deepEqual(bad, [], 'responses of 400 or more while loading the home page');
}

// Every same-origin <a href> of the home page (already loaded at `base`)
// answers 2xx or 3xx (a 3xx whose target then answers 2xx), except the ones
// meant to be 404s. So do the actions of the forms of the home page and of
// the pages it links to (fetched with GET: the POSTs are tested below).
// Returns the paths checked.
async function checkHomeLinks(base) {
    const links = await page.$$eval('a[href]', (as) => as.map((a) => a.href));
    const targets = new Map();          // URL without fragment -> what it is
    for (const href of links) {
        const u = new URL(href);
        if (u.origin !== base)
            continue;
        u.hash = '';
        if (!targets.has(u.href))
            targets.set(u.href, `link ${u.pathname}${u.search}`);
    }
    const pages = [base + '/', ...targets.keys()];
    const problems = [];
    const checked = [];

    async function check(target, what) {
        const p = new URL(target);
        const where = p.pathname + p.search;
        let r;
        try {
            r = await page.request.get(target, { maxRedirects: 0, timeout: STEP });
        } catch (e) {
            problems.push(`${what}: ${e.message.split('\n')[0]}`);
            return null;
        }
        checked.push(where);
        const st = r.status();
        if (EXPECTED_404.has(p.pathname)) {
            if (st !== 404)
                problems.push(`${what}: ${st}, expected the custom 404 page`);
            else if (!/<html/i.test(await r.text()))
                problems.push(`${what}: 404 without the custom error page`);
            return r;
        }
        if (st >= 300 && st < 400) {
            const loc = r.headers()['location'];
            if (!loc) {
                problems.push(`${what}: ${st} without Location`);
                return r;
            }
            const next = new URL(loc, target);
            const f = await page.request.get(next.href, { timeout: STEP }).catch((e) => e);
            if (f instanceof Error || f.status() < 200 || f.status() >= 300)
                problems.push(`${what}: ${st} to ${next.href}, which answers ${f instanceof Error ? f.message.split('\n')[0] : f.status()}`);
        } else if (st < 200 || st >= 300) {
            problems.push(`${what}: ${st} ${r.statusText()}`);
        }
        return r;
    }

    const forms = [];
    for (const [target, what] of targets) {
        const r = await check(target, what);
        // Collect the forms of the linked HTML pages (and of the home page).
        if (r && r.status() === 200 && /^text\/html/.test(r.headers()['content-type'] || ''))
            forms.push([target, await r.text()]);
    }
    if (!targets.has(base + '/'))
        forms.push([base + '/', await page.content()]);
    const actions = new Map();
    for (const [from, html] of forms) {
        const found = await page.evaluate((src) =>
            [...new DOMParser().parseFromString(src, 'text/html').forms]
                .map((f) => f.getAttribute('action'))
                .filter((a) => a !== null && a !== ''), html);
        for (const a of found) {
            const u = new URL(a, from);
            u.hash = '';
            if (u.origin === base && !actions.has(u.href))
                actions.set(u.href, `form action ${u.pathname} (on ${new URL(from).pathname})`);
        }
    }
    for (const [target, what] of actions)
        await check(target, what);

    assert.deepEqual(problems, [], `links and form actions of ${base}/ (${pages.length} pages)`);
    return checked;
}

// Upload a file with the list page's fetch() form at `base`, read it back,
// delete it with its Delete button.
async function fetchUploadAndDelete(base, label) {
    const name = `${label} upload ${randomBytes(3).toString('hex')}.txt`;   // spaces: percent-encoded links
    const content = `sent with fetch() and FormData over ${new URL(base).protocol}\n`;
    await page.goto(base + '/files.html');
    await idle();
    await page.setInputFiles('#fetch-file', { name, mimeType: 'text/plain', buffer: Buffer.from(content) });
    willCreate(name);
    const [resp] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        page.click('#upload-button'),
    ]);
    assert.equal(resp.status(), 201, `POST ${base}/uploads/ (multipart via fetch, file "${name}") status`);
    await idle();
    const location = resp.headers()['location'];
    assert.ok(location, 'POST /uploads/ answers with a Location header');
    // The server may sanitise the name; the list shows whatever it stored.
    const stored = decodeURIComponent(new URL(location, base).pathname.replace(/^\/uploads\//, ''));
    if (stored !== name)
        willCreate(stored);
    await statusSays(/^Uploaded /, 'after the fetch() upload');
    const row = page.locator('#file-list tr', { has: page.locator('td.name a', { hasText: stored }) });
    await row.waitFor();
    const href = await row.locator('td.name a').getAttribute('href');
    const back = await page.request.get(base + href, { timeout: STEP });
    assert.equal(back.status(), 200, `GET ${href}`);
    assert.equal(await back.text(), content);
    if (UPLOAD_DIR)
        assert.equal(readFileSync(path.join(UPLOAD_DIR, stored), 'utf8'), content, 'stored bytes');

    const [del] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'DELETE'),
        row.getByRole('button', { name: `Delete ${stored}` }).click(),
    ]);
    assert.equal(del.status(), 204, `DELETE ${href} status`);
    await idle();
    await rowGone(row, stored);
    await statusSays(/^Deleted .* \(204/, 'after DELETE');
    await emptyNoteAgrees();
    if (UPLOAD_DIR)
        assert.ok(!existsSync(path.join(UPLOAD_DIR, stored)), 'file removed from the store');
    noPageErrors();
}

describe('webserv demo site (conf/default.conf)', { timeout: 6 * TEST }, () => {
    before(async () => {
        const args = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
                      '--disable-background-networking', '--disable-component-update', '--disable-sync'];
        if (IGNORE_CERT_ERRORS) {
            args.push('--ignore-certificate-errors');
            console.log('# NOTE: Chromium runs with --ignore-certificate-errors (no certutil to trust the test CA)');
        }
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            timeout: 30_000,
            args,
            // Chromium reads the CAs a user trusts from $HOME/.pki/nssdb.
            env: CHROMIUM_HOME ? { ...process.env, HOME: CHROMIUM_HOME } : process.env,
        });
        context = await browser.newContext({ viewport: { width: 1100, height: 800 },
                                             ignoreHTTPSErrors: IGNORE_CERT_ERRORS });
        page = await context.newPage();
        page.setDefaultTimeout(STEP);
        page.setDefaultNavigationTimeout(15_000);
        page.on('pageerror', (e) => pageErrors.push(String(e)));
    });

    after(async () => {
        if (browser)
            await browser.close();
    });

    test('home page', { timeout: TEST }, async () => {
        await loadHome(BASE);
        for (const href of ['/upload.html', '/files.html', '/cgi-bin/hello.py', '/cgi-bin/hello.php', '/cgi-bin/session.py'])
            assert.ok(await page.locator(`a[href="${href}"]`).count() > 0, `home page links to ${href}`);
        await shot('demo-home.png');
        noPageErrors();
    });

    test('every link of the home page answers 2xx or 3xx', { timeout: TEST }, async (t) => {
        await loadHome(BASE);
        const checked = await checkHomeLinks(BASE);
        for (const p of ['/files/', '/cgi-bin/hello.php', '/cgi-bin/session.py', '/old/', '/health', '/uploads/'])
            assert.ok(checked.includes(p), `${p} was among the links and form actions checked`);
        t.diagnostic(`${checked.length} links and form actions: ${checked.join(' ')}`);
        // session.py made a session for this context: delete it on the server.
        if ((await context.cookies(BASE)).some((c) => c.name === 'sid'))
            await page.request.get(BASE + '/cgi-bin/session.py?reset=1', { timeout: STEP });
        await context.clearCookies();
    });

    test('upload with the form, see it listed, delete it', { timeout: TEST }, async () => {
        const name = `browser-test-${randomBytes(4).toString('hex')}.txt`;
        const content = `uploaded by the webserv browser test\n${randomBytes(16).toString('hex')}\n`;

        // The plain HTML form: multipart/form-data POST to /uploads/.
        await page.goto(BASE + '/');
        await page.click('a[href="/upload.html"] >> nth=0');
        await page.waitForURL(BASE + '/upload.html');
        assert.match(await page.title(), /Upload/);
        await page.setInputFiles('#upload-form input[type=file][name=file]',
                                 { name, mimeType: 'text/plain', buffer: Buffer.from(content) });
        willCreate(name);
        const [resp] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/uploads/'),
            page.click('#upload-form button[type=submit]'),
        ]);
        await page.waitForLoadState('load');
        const location = resp.headers()['location'];
        assert.equal(resp.status(), 201, `POST /uploads/ (multipart, file "${name}") status`);
        assert.ok(location, 'POST /uploads/ answers with a Location header');
        assert.equal(new URL(location, BASE).pathname, `/uploads/${name}`, 'Location of the uploaded file');
        await shot('demo-upload-result.png');
        if (UPLOAD_DIR)
            assert.equal(readFileSync(path.join(UPLOAD_DIR, name), 'utf8'), content, 'stored bytes');

        // The file is served back as uploaded.
        const back = await page.request.get(BASE + `/uploads/${name}`, { timeout: STEP });
        assert.equal(back.status(), 200);
        assert.equal(await back.text(), content);

        // The list page shows it, with a Delete button.
        await page.goto(BASE + '/files.html');
        await idle();
        const row = page.locator('#file-list tr', { has: page.locator('td.name a', { hasText: name }) });
        await row.waitFor();
        assert.equal(await row.locator('td.name a').getAttribute('href'), `/uploads/${name}`);
        await shot('demo-files.png');

        const [del] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === 'DELETE'),
            row.getByRole('button', { name: `Delete ${name}` }).click(),
        ]);
        assert.equal(del.status(), 204, `DELETE /uploads/${name} status`);
        assert.equal(new URL(del.url()).pathname, `/uploads/${name}`);
        await idle();
        await rowGone(row, name);
        await statusSays(new RegExp(`^Deleted ${reEscape(name)} \\(204`), 'after DELETE');
        await emptyNoteAgrees();
        await shot('demo-files-deleted.png');
        if (UPLOAD_DIR)
            assert.ok(!existsSync(path.join(UPLOAD_DIR, name)), 'file removed from the store');
        const gone = await page.request.get(BASE + `/uploads/${name}`, { timeout: STEP });
        assert.equal(gone.status(), 404, 'GET after DELETE');
        noPageErrors();
    });

    test('upload and delete with fetch() on the list page', { timeout: TEST }, async () => {
        await fetchUploadAndDelete(BASE, 'fetch');
    });

    test('CGI session: the counter rises with the cookie', { timeout: TEST }, async () => {
        await context.clearCookies();
        let resp = await page.goto(BASE + '/cgi-bin/session.py');
        assert.equal(resp.status(), 200, 'GET /cgi-bin/session.py status');
        const setCookie = (await resp.headerValue('set-cookie')) || '';
        assert.match(setCookie, /^sid=[0-9a-f]+;/, 'Set-Cookie passed through from the CGI script');
        assert.match(await page.locator('#visits').innerText(), /You have visited this page 1 time\b/);
        const cookies = await context.cookies(BASE);
        const sid = cookies.find((c) => c.name === 'sid');
        assert.ok(sid && /^[0-9a-f]{32}$/.test(sid.value), 'the browser keeps the sid cookie');
        assert.equal(sid.httpOnly, true);
        assert.equal(sid.sameSite, 'Lax');

        resp = await page.reload();
        assert.equal(resp.status(), 200);
        assert.match(await page.locator('#visits').innerText(), /You have visited this page 2 times\b/);
        assert.equal((await page.locator('#count').innerText()).trim(), '2');
        await shot('demo-session.png');

        // "Forget me" deletes the server-side file and expires the cookie.
        await page.click('a[href="/cgi-bin/session.py?reset=1"]');
        await page.waitForURL(BASE + '/cgi-bin/session.py?reset=1');
        assert.match(await page.locator('#visits').innerText(), /session was deleted/);
        assert.equal((await context.cookies(BASE)).find((c) => c.name === 'sid'), undefined, 'sid cookie expired');
        noPageErrors();
    });

    test('CGI hello.py and hello.php', { timeout: TEST }, async () => {
        for (const [script, file] of [['hello.py', 'demo-hello-py.png'], ['hello.php', 'demo-hello-php.png']]) {
            // GET with PATH_INFO and a query string.
            const resp = await page.goto(BASE + `/cgi-bin/${script}/extra/path?name=browser&lang=en`);
            assert.equal(resp.status(), 200, `GET /cgi-bin/${script}/extra/path?name=browser&lang=en status`);
            assert.match(resp.headers()['content-type'] || '', /^text\/html/);
            assert.equal((await page.locator('#greeting').innerText()).trim(), 'Hello, browser!');
            assert.equal(await cgiVar('REQUEST_METHOD'), 'GET');
            assert.equal(await cgiVar('QUERY_STRING'), 'name=browser&lang=en');
            assert.equal(await cgiVar('PATH_INFO'), '/extra/path');
            assert.equal(await cgiVar('SCRIPT_NAME'), `/cgi-bin/${script}`);
            if (WWW_DIR)    // a clean absolute path into the real site (php-cgi refuses "/../")
                assert.equal(await cgiVar('SCRIPT_FILENAME'), path.join(WWW_DIR, 'cgi-bin', script));
            assert.equal(await cgiVar('GATEWAY_INTERFACE'), 'CGI/1.1');
            assert.notEqual(await cgiVar('SERVER_SOFTWARE'), '(not set)');
            await shot(file);

            // POST the page's form: the body reaches the script's stdin.
            await page.fill('#name', '<Ada & "Bob">');
            const [post] = await Promise.all([
                page.waitForResponse((r) => r.request().method() === 'POST'),
                page.click('form button[type=submit]'),
            ]);
            await page.waitForLoadState('load');
            assert.equal(post.status(), 200, `POST /cgi-bin/${script} (form) status`);
            assert.equal((await page.locator('#greeting').innerText()).trim(), 'Hello, <Ada & "Bob">!');
            assert.equal(await cgiVar('REQUEST_METHOD'), 'POST');
            assert.equal(await cgiVar('CONTENT_TYPE'), 'application/x-www-form-urlencoded');
        }
        noPageErrors();
    });

    describe('over HTTPS (conf/https.conf)', { skip: HTTPS ? false : 'HTTPS_URL not set' }, () => {
        const trust = IGNORE_CERT_ERRORS ? 'certificate errors ignored (--ignore-certificate-errors)'
                                         : 'Chromium trusts the local CA';

        test(`home page over HTTPS, ${trust}`, { timeout: TEST }, async (t) => {
            if (IGNORE_CERT_ERRORS)
                t.diagnostic('Chromium runs with --ignore-certificate-errors: the certificate is not verified');
            await loadHome(HTTPS);
            const resp = await page.goto(HTTPS + '/');
            assert.equal(resp.status(), 200);
            const tls = await resp.securityDetails();
            assert.ok(tls, 'the response came over TLS');
            assert.equal(tls.issuer, 'webserv local CA', 'certificate issuer (scripts/make-cert.sh)');
            assert.equal(tls.subjectName, 'localhost', 'certificate subject');
            assert.match(tls.protocol, /^TLS 1\.[23]$/, 'TLS version');
            // conf/https.conf says `listen ... ssl http2`: Chromium picks h2 by ALPN
            const hop = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
            assert.equal(hop, 'h2', 'the page came over HTTP/2 (nextHopProtocol)');
            t.diagnostic(`${tls.protocol}, ${hop}, certificate "${tls.subjectName}" from "${tls.issuer}"`);
            await shot('demo-https-home.png');
            const checked = await checkHomeLinks(HTTPS);
            t.diagnostic(`${checked.length} links and form actions answer 2xx/3xx over HTTPS`);
            if ((await context.cookies(HTTPS)).some((c) => c.name === 'sid'))
                await page.request.get(HTTPS + '/cgi-bin/session.py?reset=1', { timeout: STEP });
            await context.clearCookies();
            noPageErrors();
        });

        test('CGI over HTTPS: hello.php (GET) and hello.py (POST)', { timeout: TEST }, async () => {
            const port = new URL(HTTPS).port;
            let resp = await page.goto(HTTPS + '/cgi-bin/hello.php/tls?name=tls');
            assert.equal(resp.status(), 200, 'GET /cgi-bin/hello.php/tls?name=tls over HTTPS');
            assert.equal((await page.locator('#greeting').innerText()).trim(), 'Hello, tls!');
            assert.equal(await cgiVar('PATH_INFO'), '/tls');
            assert.equal(await cgiVar('SERVER_PORT'), port);
            if (WWW_DIR)
                assert.equal(await cgiVar('SCRIPT_FILENAME'), path.join(WWW_DIR, 'cgi-bin', 'hello.php'));
            await shot('demo-https-hello-php.png');

            resp = await page.goto(HTTPS + '/cgi-bin/hello.py');
            assert.equal(resp.status(), 200, 'GET /cgi-bin/hello.py over HTTPS');
            await page.fill('#name', 'Grace over TLS');
            const [post] = await Promise.all([
                page.waitForResponse((r) => r.request().method() === 'POST'),
                page.click('form button[type=submit]'),
            ]);
            await page.waitForLoadState('load');
            assert.equal(post.status(), 200, 'POST /cgi-bin/hello.py (form) over HTTPS');
            assert.equal((await page.locator('#greeting').innerText()).trim(), 'Hello, Grace over TLS!');
            assert.equal(await cgiVar('REQUEST_METHOD'), 'POST');
            assert.equal(await cgiVar('SERVER_PORT'), port);
            noPageErrors();
        });

        test('upload and delete with fetch() over HTTPS', { timeout: TEST }, async () => {
            await fetchUploadAndDelete(HTTPS, 'https');
        });

        test('the HTTP port answers 301 to the same URL over HTTPS', { timeout: TEST }, async () => {
            assert.ok(REDIRECT, 'REDIRECT_URL is set');
            const where = '/cgi-bin/hello.py/x?name=redirected&a=1';
            const r = await page.request.get(REDIRECT + where, { maxRedirects: 0, timeout: STEP });
            assert.equal(r.status(), 301, `GET ${REDIRECT}${where} status`);
            assert.equal(r.headers()['location'], HTTPS + where, 'Location');

            // The browser follows it to the HTTPS demo.
            const resp = await page.goto(REDIRECT + '/files/');
            assert.equal(page.url(), HTTPS + '/files/');
            assert.equal(resp.status(), 200);
            const from = resp.request().redirectedFrom();
            assert.ok(from, 'the page was reached through a redirect');
            assert.equal(from.url(), REDIRECT + '/files/');
            assert.equal((await from.response()).status(), 301);
            noPageErrors();
        });
    });
});
