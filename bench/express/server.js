'use strict';
// The seed tutorial's app (express-session + express-mysql-session), done fairly so that it
// does the same work per request as member-portal:
//
//   GET /        signed in: one session read (+ express-session's touch), one member JOIN author
//                read by primary key, a small HTML page; anonymous: 303 -> /login
//   GET /login   a sign-in form with a signed double-submit CSRF token (cookie `csrf` + hidden
//                field `csrf_token`, HMAC-SHA256 of a random nonce), no database
//   POST /login  CSRF check (403), per-account throttle upsert (counted before the password is
//                verified, the same statement as member-portal's), member JOIN author read,
//                argon2id verify (m=19456 KiB, t=2, p=1, the `argon2` npm package, a dummy hash
//                for unknown names), throttle clear, new session id (regenerate), 303 -> /
//
// Differences from the seed, on purpose: the session is regenerated at sign-in (fixation), the
// password is stored as an argon2id PHC string (not plain text), sign-ins are CSRF-checked and
// throttled per account like member-portal's, saveUninitialized is false (the seed had true,
// which writes a row for every anonymous visitor; set SAVE_UNINITIALIZED=1 to get the seed's
// behaviour), the session secret is random per start unless SESSION_SECRET is set.
// Not copied from member-portal: the cap on sessions per member, the per-IP limit on failed
// sign-ins, the session snapshot (this app reads member JOIN author on every page view, as the
// seed does) and the bounded hashing queue (argon2 runs on libuv's thread pool, 4 threads by
// default: UV_THREADPOOL_SIZE).
//
// Environment: PORT (default 3000), DB_HOST (127.0.0.1), DB_PORT (3306), DB_USER (root),
// DB_PASSWORD (''), DB_NAME (bench_express), SESSION_SECRET, SAVE_UNINITIALIZED.

const crypto = require('crypto');
const argon2 = require('argon2');
const express = require('express');
const session = require('express-session');
const MySQLStore = require('express-mysql-session')(session);
const mysql = require('mysql2/promise');

const PORT = Number(process.env.PORT || 3000);
const DB = {
  host: process.env.DB_HOST || '127.0.0.1',
  port: Number(process.env.DB_PORT || 3306),
  user: process.env.DB_USER || 'root',
  password: process.env.DB_PASSWORD || '',
};
const DB_NAME = process.env.DB_NAME || 'bench_express';
const IDLE_TIMEOUT_MS = 30 * 60 * 1000; // member-portal's default SESSION_IDLE_TIMEOUT

// Passwords: argon2id with member-portal's parameters, stored as a PHC string.
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };

function hashPassword(password) {
  return argon2.hash(password, ARGON2);
}

async function verifyPassword(password, stored) {
  try {
    return await argon2.verify(String(stored), password);
  } catch {
    return false;
  }
}

// The anonymous CSRF token: `nonce.HMAC(nonce)` in the `csrf` cookie, repeated in the form.
const CSRF_KEY = crypto.randomBytes(32);

function signCsrf(nonce) {
  const mac = crypto.createHmac('sha256', CSRF_KEY).update(nonce).digest('base64url');
  return `${nonce}.${mac}`;
}

function sameString(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function csrfCookie(req) {
  const match = /(?:^|;\s*)csrf=([^;]*)/.exec(req.headers.cookie || '');
  if (!match) return null;
  const token = match[1];
  const dot = token.indexOf('.');
  return dot > 0 && sameString(signCsrf(token.slice(0, dot)), token) ? token : null;
}

// The visitor's genuine token, or a new one set as a cookie.
function csrfToken(req, res) {
  const existing = csrfCookie(req);
  if (existing) return existing;
  const token = signCsrf(crypto.randomBytes(24).toString('base64url'));
  res.cookie('csrf', token, { httpOnly: true, sameSite: 'lax', path: '/' });
  return token;
}

// Per-account sign-in throttle: member-portal's statement (src/throttle.rs), counted before the
// password is verified; a success deletes the row.
const FREE_ATTEMPTS = 5;
const MAX_LOCK_SECS = 300;
const QUIET_SECS = 3600;

async function throttleAttempt(pool, account) {
  const [result] = await pool.execute(
    `INSERT INTO login_throttle (account, failures, locked_until, last_failure_at)
       VALUES (?, LAST_INSERT_ID(1), NULL, UTC_TIMESTAMP(6))
       ON DUPLICATE KEY UPDATE
         failures = IF(locked_until > UTC_TIMESTAMP(6),
             failures + LAST_INSERT_ID(0),
             LAST_INSERT_ID(IF(last_failure_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND,
                 1, failures + 1))),
         last_failure_at = IF(locked_until > UTC_TIMESTAMP(6),
             last_failure_at, UTC_TIMESTAMP(6)),
         locked_until = IF(locked_until > UTC_TIMESTAMP(6),
             locked_until,
             IF(failures >= ?,
                 UTC_TIMESTAMP(6) + INTERVAL LEAST(POW(2, failures + 1 - ?), ?) SECOND,
                 NULL))`,
    [account, QUIET_SECS, FREE_ATTEMPTS, FREE_ATTEMPTS, MAX_LOCK_SECS],
  );
  return result.insertId > 0;
}

// A dummy hash so unknown users cost the same hashing time as known ones.
let dummyHash = null;

function escapeHtml(value) {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#x27;');
}

function page(title, member, content) {
  const nav = member
    ? `
      <nav class="nav" aria-label="Account">
        <a href="/">Home</a>
        <a href="/sessions">Devices</a>
        <a href="/account/password">Password</a>
        <form method="post" action="/logout" class="inline">
          <button type="submit" class="link-button">Sign out</button>
        </form>
      </nav>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)} · Member Portal</title>
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header class="site-header">
    <div class="bar">
      <a class="brand" href="/"><span class="logo" aria-hidden="true">◆</span> Member Portal</a>${nav}
    </div>
  </header>
  <main class="page">
${content}
  </main>
  <footer class="site-footer">Sessions are kept on the server; your browser holds only a signed id.</footer>
</body>
</html>
`;
}

function homePage(member) {
  const profile =
    member.profile == null
      ? '<span class="muted">No profile yet.</span>'
      : escapeHtml(member.profile);
  return page(
    'Home',
    member,
    `<section class="card">
  <h1>Welcome, ${escapeHtml(member.name)}</h1>
  <dl class="profile">
    <dt>Username</dt><dd>${escapeHtml(member.id)}</dd>
    <dt>Display name</dt><dd>${escapeHtml(member.name)}</dd>
    <dt>Profile</dt><dd>${profile}</dd>
  </dl>
</section>
<section class="tiles">
  <a class="tile" href="/sessions"><strong>Devices</strong><span>See where you are signed in and sign out other devices.</span></a>
  <a class="tile" href="/account/password"><strong>Password</strong><span>Change your password; other devices are signed out.</span></a>
</section>`,
  );
}

function loginPage(csrf, error, username) {
  const alert = error ? `<p class="alert error" role="alert">${escapeHtml(error)}</p>` : '';
  return page(
    'Sign in',
    null,
    `<section class="card narrow">
  <h1>Sign in</h1>
  ${alert}
  <form method="post" action="/login" class="stack">
    <input type="hidden" name="csrf_token" value="${escapeHtml(csrf)}">
    <label>Username <input name="username" autocomplete="username" required value="${escapeHtml(username || '')}"></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
</section>`,
  );
}

async function prepareDatabase() {
  const admin = await mysql.createConnection(DB);
  await admin.query(`CREATE DATABASE IF NOT EXISTS \`${DB_NAME}\``);
  await admin.end();

  const pool = mysql.createPool({
    ...DB,
    database: DB_NAME,
    connectionLimit: 16,
    waitForConnections: true,
  });
  // The seed's tables (author, member), with a hash instead of a plain password.
  await pool.query(`CREATE TABLE IF NOT EXISTS author (
      id INT NOT NULL AUTO_INCREMENT,
      name VARCHAR(40) NOT NULL,
      profile VARCHAR(200) NULL,
      PRIMARY KEY (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  await pool.query(`CREATE TABLE IF NOT EXISTS member (
      id VARCHAR(40) NOT NULL,
      password VARCHAR(255) NOT NULL,
      author_id INT NOT NULL,
      PRIMARY KEY (id),
      CONSTRAINT member_author FOREIGN KEY (author_id) REFERENCES author (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  await pool.query(`CREATE TABLE IF NOT EXISTS login_throttle (
      account VARCHAR(40) NOT NULL,
      failures INT NOT NULL,
      locked_until DATETIME(6) NULL,
      last_failure_at DATETIME(6) NOT NULL,
      PRIMARY KEY (account)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  const [rows] = await pool.query('SELECT id FROM member WHERE id = ?', ['bench']);
  if (rows.length === 0) {
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const [author] = await conn.query('INSERT INTO author (name, profile) VALUES (?, NULL)', [
        'bench',
      ]);
      await conn.query('INSERT INTO member (id, password, author_id) VALUES (?, ?, ?)', [
        'bench',
        await hashPassword('bench password'),
        author.insertId,
      ]);
      await conn.commit();
    } catch (error) {
      await conn.rollback();
      throw error;
    } finally {
      conn.release();
    }
  }
  dummyHash = await hashPassword('not a real password');
  return pool;
}

async function main() {
  const pool = await prepareDatabase();

  // The store shares the app's pool of 16 connections.
  const sessionStore = new MySQLStore(
    {
      createDatabaseTable: true,
      expiration: IDLE_TIMEOUT_MS,
    },
    pool,
  );
  await sessionStore.onReady();

  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));
  app.use(
    session({
      name: 'sid',
      secret: process.env.SESSION_SECRET || crypto.randomBytes(32).toString('base64'),
      store: sessionStore,
      resave: false,
      saveUninitialized: process.env.SAVE_UNINITIALIZED === '1',
      rolling: false,
      cookie: { httpOnly: true, sameSite: 'lax', path: '/' }, // browser-session cookie, like ours
    }),
  );

  app.get('/', async (req, res, next) => {
    try {
      if (!req.session.uid) return res.redirect(303, '/login');
      const [rows] = await pool.execute(
        'SELECT m.id, a.name, a.profile FROM member m JOIN author a ON a.id = m.author_id WHERE m.id = ?',
        [req.session.uid],
      );
      if (rows.length === 0) {
        return req.session.destroy(() => res.redirect(303, '/login'));
      }
      res.type('html').send(homePage(rows[0]));
    } catch (error) {
      next(error);
    }
  });

  app.get('/login', (req, res) => {
    if (req.session.uid) return res.redirect(303, '/');
    res.type('html').send(loginPage(csrfToken(req, res)));
  });

  app.post('/login', async (req, res, next) => {
    try {
      const submitted = String(req.body.csrf_token || '');
      const cookie = csrfCookie(req);
      if (!cookie || !sameString(cookie, submitted)) {
        return res.status(403).type('html').send(page('Forbidden', null, '<h1>Forbidden</h1>'));
      }
      const username = String(req.body.username || '').trim().toLowerCase();
      const password = String(req.body.password || '');
      if (!username || !password) {
        return res.status(400).type('html').send(loginPage(cookie, 'Missing fields', username));
      }
      const reject = (status) =>
        res.status(status).type('html').send(loginPage(cookie, 'That username and password do not match.', username));
      if (!(await throttleAttempt(pool, username))) {
        res.set('Retry-After', '2');
        return reject(429);
      }
      const [rows] = await pool.execute(
        'SELECT m.id, m.password, a.name, a.profile FROM member m JOIN author a ON a.id = m.author_id WHERE m.id = ?',
        [username],
      );
      const ok = await verifyPassword(password, rows.length ? rows[0].password : dummyHash);
      if (!rows.length || !ok) return reject(401);
      await pool.execute('DELETE FROM login_throttle WHERE account = ?', [username]);
      // A new session id at sign-in (the seed kept the old one).
      req.session.regenerate((error) => {
        if (error) return next(error);
        req.session.uid = rows[0].id;
        // Save before redirecting, as the seed does.
        req.session.save((error) => {
          if (error) return next(error);
          res.redirect(303, '/');
        });
      });
    } catch (error) {
      next(error);
    }
  });

  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie('sid', { path: '/' });
      res.redirect(303, '/login');
    });
  });

  app.use((req, res) => res.status(404).type('html').send(page('Not found', null, '<h1>Not found</h1>')));
  // eslint-disable-next-line no-unused-vars
  app.use((error, req, res, next) => {
    console.error(error);
    res.status(503).set('Retry-After', '5').type('html').send(page('Unavailable', null, '<h1>Try again shortly</h1>'));
  });

  const server = app.listen(PORT, '127.0.0.1', () => {
    console.log(`express bench app listening on 127.0.0.1:${PORT} (database ${DB_NAME})`);
  });
  const stop = () => {
    server.close(() => {
      sessionStore.close().catch(() => {}).finally(() => pool.end().finally(() => process.exit(0)));
    });
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
