/** The two server-rendered pages: the login form and the notice that the web UI is not built. */

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d1f23; }
  main { max-width: 28rem; margin: 12vh auto; padding: 2rem; background: #fff;
         border: 1px solid #d8dbe0; border-radius: 6px; }
  h1 { font-size: 1.25rem; margin-top: 0; }
  input, button { font: inherit; padding: 0.4rem 0.6rem; }
  input { width: 100%; box-sizing: border-box; margin: 0.4rem 0 1rem; }
  .error { color: #a4262c; }
  code { background: #f0f1f3; padding: 0.1rem 0.3rem; border-radius: 3px; }`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

/** The login form; `next` is the local path to return to, already checked by the caller. */
export function loginPage(next: string, error?: string): string {
  const message = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>\n` : '';
  return page(
    'Sign in - SMTP AUTH report',
    `<h1>SMTP AUTH report</h1>
${message}<form method="post" action="/login">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<button type="submit">Sign in</button>
</form>
<p>The token is the value of <code>--token</code> or <code>SMTP_AUTH_REPORT_TOKEN</code> given to the server.</p>`,
  );
}

export function uiNotBuiltPage(webRoot: string): string {
  return page(
    'SMTP AUTH report',
    `<h1>SMTP AUTH report</h1>
<p>The web UI is not built: <code>${escapeHtml(webRoot)}</code> has no <code>index.html</code>.
Run <code>npm run build</code> in the project directory, then restart the server.</p>
<p>The API answers meanwhile: <a href="/api/summary">/api/summary</a>,
described in <a href="/api/openapi.json">/api/openapi.json</a>.</p>`,
  );
}
