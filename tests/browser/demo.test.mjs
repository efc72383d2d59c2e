// Browser test of the webserv demo site (run it with tests/browser/run.sh,
// which starts a server on a copy of www/ and sets BASE_URL, UPLOAD_DIR and
// ARTIFACTS). Headless Chromium from Debian, driven by playwright-core.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const UPLOAD_DIR = process.env.UPLOAD_DIR || '';     // checked on disk when set
const ARTIFACTS = process.env.ARTIFACTS || path.resolve(here, '../artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP = 10_000;          // ms, any single browser action
const TEST = 45_000;          // ms, one test as a whole

mkdirSync(ARTIFACTS, { recursive: true });

let browser, context, page;
const pageErrors = [];

async function shot(name) {
    await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true, timeout: STEP });
}

function url(p) { return BASE + p; }

function noPageErrors() {
    assert.deepEqual(pageErrors.splice(0), [], 'JavaScript errors on the page');
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

function reEscape(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

// The value of one CGI variable in the scripts' #cgi-vars table.
async function cgiVar(name) {
    const row = page.locator('#cgi-vars tr').filter({ has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) });
    return (await row.locator('td').innerText({ timeout: STEP })).trim();
}

describe('webserv demo site', { timeout: 4 * TEST + 30_000 }, () => {
    before(async () => {
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            timeout: 30_000,
            args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
                   '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        });
        context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
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
        const resp = await page.goto(url('/'));
        assert.equal(resp.status(), 200);
        assert.match(await page.title(), /^webserv/);
        await page.locator('h1').first().waitFor();
        for (const href of ['/upload.html', '/files.html', '/cgi-bin/hello.py', '/cgi-bin/hello.php', '/cgi-bin/session.py'])
            assert.ok(await page.locator(`a[href="${href}"]`).count() > 0, `home page links to ${href}`);
        await shot('demo-home.png');
        noPageErrors();
    });

    test('upload with the form, see it listed, delete it', { timeout: TEST }, async () => {
        const name = `browser-test-${randomBytes(4).toString('hex')}.txt`;
        const content = `uploaded by the webserv browser test\n${randomBytes(16).toString('hex')}\n`;

        // The plain HTML form: multipart/form-data POST to /uploads/.
        await page.goto(url('/'));
        await page.click('a[href="/upload.html"] >> nth=0');
        await page.waitForURL(url('/upload.html'));
        assert.match(await page.title(), /Upload/);
        await page.setInputFiles('#upload-form input[type=file][name=file]',
                                 { name, mimeType: 'text/plain', buffer: Buffer.from(content) });
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
        const back = await page.request.get(url(`/uploads/${name}`), { timeout: STEP });
        assert.equal(back.status(), 200);
        assert.equal(await back.text(), content);

        // The list page shows it, with a Delete button.
        await page.goto(url('/files.html'));
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
        await page.locator('#empty').waitFor({ state: 'visible' });
        await shot('demo-files-deleted.png');
        if (UPLOAD_DIR)
            assert.ok(!existsSync(path.join(UPLOAD_DIR, name)), 'file removed from the store');
        const gone = await page.request.get(url(`/uploads/${name}`), { timeout: STEP });
        assert.equal(gone.status(), 404, 'GET after DELETE');
        noPageErrors();
    });

    test('upload and delete with fetch() on the list page', { timeout: TEST }, async () => {
        const name = `fetch upload ${randomBytes(3).toString('hex')}.txt`;   // a space: percent-encoded links
        const content = 'sent with fetch() and FormData\n';
        await page.goto(url('/files.html'));
        await idle();
        await page.setInputFiles('#fetch-file', { name, mimeType: 'text/plain', buffer: Buffer.from(content) });
        const [resp] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === 'POST'),
            page.click('#upload-button'),
        ]);
        assert.equal(resp.status(), 201, `POST /uploads/ (multipart via fetch, file "${name}") status`);
        await idle();
        const location = resp.headers()['location'];
        assert.ok(location, 'POST /uploads/ answers with a Location header');
        // The server may sanitise the name; the list shows whatever it stored.
        const stored = decodeURIComponent(new URL(location, BASE).pathname.replace(/^\/uploads\//, ''));
        await statusSays(/^Uploaded /, 'after the fetch() upload');
        const row = page.locator('#file-list tr', { has: page.locator('td.name a', { hasText: stored }) });
        await row.waitFor();
        const href = await row.locator('td.name a').getAttribute('href');
        const back = await page.request.get(url(href), { timeout: STEP });
        assert.equal(back.status(), 200, `GET ${href}`);
        assert.equal(await back.text(), content);

        const [del] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === 'DELETE'),
            row.getByRole('button', { name: `Delete ${stored}` }).click(),
        ]);
        assert.equal(del.status(), 204, `DELETE ${href} status`);
        await idle();
        await rowGone(row, stored);
        await statusSays(/^Deleted .* \(204/, 'after DELETE');
        await page.locator('#empty').waitFor({ state: 'visible' });
        noPageErrors();
    });

    test('CGI session: the counter rises with the cookie', { timeout: TEST }, async () => {
        await context.clearCookies();
        let resp = await page.goto(url('/cgi-bin/session.py'));
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
        await page.waitForURL(url('/cgi-bin/session.py?reset=1'));
        assert.match(await page.locator('#visits').innerText(), /session was deleted/);
        assert.equal((await context.cookies(BASE)).find((c) => c.name === 'sid'), undefined, 'sid cookie expired');
        noPageErrors();
    });

    test('CGI hello.py and hello.php', { timeout: TEST }, async () => {
        for (const [script, file] of [['hello.py', 'demo-hello-py.png'], ['hello.php', 'demo-hello-php.png']]) {
            // GET with PATH_INFO and a query string.
            const resp = await page.goto(url(`/cgi-bin/${script}/extra/path?name=browser&lang=en`));
            assert.equal(resp.status(), 200, `GET /cgi-bin/${script}/extra/path?name=browser&lang=en status`);
            assert.match(resp.headers()['content-type'] || '', /^text\/html/);
            assert.equal((await page.locator('#greeting').innerText()).trim(), 'Hello, browser!');
            assert.equal(await cgiVar('REQUEST_METHOD'), 'GET');
            assert.equal(await cgiVar('QUERY_STRING'), 'name=browser&lang=en');
            assert.equal(await cgiVar('PATH_INFO'), '/extra/path');
            assert.equal(await cgiVar('SCRIPT_NAME'), `/cgi-bin/${script}`);
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
});
