/**
 * Exim logs the name an authenticator has in the configuration (`A=plain_server:user`,
 * `dovecot_login authenticator failed`), not the SASL mechanism the client chose. Common
 * configurations name each authenticator after its mechanism. Debian's exim4-config has
 * plain_server, login_server, cram_md5_server, plain_saslauthd_server and
 * login_saslauthd_server. cPanel and many guides use dovecot_plain, dovecot_login,
 * auth_plain, fixed_plain or simply PLAIN and LOGIN.
 */

/** Mechanisms recognised by one word of the name (`plain` in `plain_saslauthd_server`). */
const WORD_MECHANISMS: Record<string, string> = {
  plain: 'PLAIN',
  login: 'LOGIN',
  crammd5: 'CRAM-MD5',
  digestmd5: 'DIGEST-MD5',
  ntlm: 'NTLM',
  // Exim's spa driver serves NTLM, and configurations name it after the driver.
  spa: 'NTLM',
  gssapi: 'GSSAPI',
  xoauth2: 'XOAUTH2',
  oauthbearer: 'OAUTHBEARER',
  external: 'EXTERNAL',
};

/** Mechanisms written as two or more words: `cram_md5_server`, `scram_sha_256`. */
const PHRASE_MECHANISMS: Array<[RegExp, string]> = [
  [/(?:^|_)cram_md5(?:_|$)/, 'CRAM-MD5'],
  [/(?:^|_)digest_md5(?:_|$)/, 'DIGEST-MD5'],
  [/(?:^|_)scram_sha_?256(?:_plus)?(?:_|$)/, 'SCRAM-SHA-256'],
  [/(?:^|_)scram_sha_?1(?:_plus)?(?:_|$)/, 'SCRAM-SHA-1'],
];

/**
 * Map an authenticator name to its SASL mechanism, in the registry's upper-case spelling:
 * `plain_server` gives PLAIN, `dovecot_login` LOGIN, `cram_md5_server` CRAM-MD5. A name that
 * names no mechanism, or two of them, is returned upper-cased, as other formats log theirs.
 */
export function mechanismOfAuthenticator(name: string): string {
  let mechanism = known.get(name);
  if (mechanism === undefined) {
    mechanism = mapName(name);
    // A configuration has a handful of authenticators; the bound guards against a damaged log.
    if (known.size < 1000) known.set(name, mechanism);
  }
  return mechanism;
}

const known = new Map<string, string>();

function mapName(name: string): string {
  const lower = name.toLowerCase().replace(/-/g, '_');

  for (const [pattern, mechanism] of PHRASE_MECHANISMS) {
    if (pattern.test(lower)) return mechanism;
  }

  const found = new Set<string>();
  for (const word of lower.split(/_+/)) {
    const mechanism = WORD_MECHANISMS[word];
    if (mechanism) found.add(mechanism);
  }
  if (found.size === 1) return [...found][0];
  return name.toUpperCase();
}
