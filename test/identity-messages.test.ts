/** The identity texts of the CLI (pure, no sockets): what a 60/61/62 is followed by, and the TLS 1.2 warning. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { certificateStatusLines, describeSentIdentity, shellWord, suggestedScope, tls12IdentityWarning } from '../src/cli/identity-messages.js';

const FP = 'ab'.repeat(32);
const base = { url: 'gemini://example.org:1966/app/login?next=%2F', meta: 'please log in', identity: null };

describe('certificateStatusLines', () => {
  it('60 without identities: the create command with the URL as scope (no query)', () => {
    expect(certificateStatusLines({ ...base, status: 60, identities: [] })).toEqual([
      'you have no identity yet. To create one, sent under this URL from now on:',
      '  gemfetch id create NAME --scope gemini://example.org:1966/app/login',
    ]);
  });

  it('60 with identities: their names, and use / create / --id commands', () => {
    const lines = certificateStatusLines({ ...base, status: 60, identities: ['alice', 'bob'] });
    expect(lines[0]).toBe('your identities: alice, bob (none is scoped to this URL)');
    expect(lines.join('\n')).toContain('gemfetch id use NAME --scope gemini://example.org:1966/app/login');
    expect(lines.join('\n')).toContain('gemfetch id create NAME --scope gemini://example.org:1966/app/login');
    expect(lines.join('\n')).toContain(`gemfetch --id NAME '${base.url}'`); // quoted: "?" is a shell glob (zsh: "no matches found")
    expect(certificateStatusLines({ ...base, status: 60, identities: ['solo'] }).join('\n')).toContain('gemfetch id use solo --scope');
  });

  it('60 with --no-id, or an unreadable store, says so instead', () => {
    expect(certificateStatusLines({ ...base, status: 60, identities: ['a'], noId: true })).toEqual(['--no-id was given: no identity was sent']);
    expect(certificateStatusLines({ ...base, status: 60, identities: undefined, storeError: '/x/index.json: damaged' })).toEqual([
      'the identity store cannot be read: /x/index.json: damaged',
    ]);
  });

  it('61 and 62: META and the identity sent (or that none was)', () => {
    const sent = { name: 'alice', fingerprint: FP };
    const l61 = certificateStatusLines({ ...base, status: 61, meta: 'admins only', identity: sent, identities: ['alice'] });
    expect(l61[0]).toBe('the server says: admins only');
    expect(l61[1]).toBe(`sent: identity alice (sha256 ${FP.slice(0, 16)}…), which the server says is not authorised here`);
    const l62 = certificateStatusLines({ ...base, status: 62, meta: 'expired', identity: sent, identities: ['alice'] });
    expect(l62[1]).toContain('is not valid for it');
    expect(l62.join('\n')).toContain('gemfetch id list');
    expect(certificateStatusLines({ ...base, status: 61, identities: [] })[1]).toBe('no identity was sent');
  });

  it('control characters of META and names are made visible, not sent to the terminal', () => {
    const lines = certificateStatusLines({ ...base, status: 61, meta: 'x\x1b]0;owned\x07y', identities: [] });
    expect(lines.join('')).not.toMatch(/[\x1b\x07]/);
  });

  it('nothing for other statuses', () => {
    expect(certificateStatusLines({ ...base, status: 20, identities: [] })).toEqual([]);
    expect(certificateStatusLines({ ...base, status: 51, identities: [] })).toEqual([]);
  });
});

describe('other texts', () => {
  it('suggestedScope is host, port and path', () => {
    expect(suggestedScope('gemini://Example.org/a/b?q#f')).toBe('gemini://example.org/a/b');
    expect(suggestedScope('titan://example.org:1970/wiki/p.gmi;mime=text/gemini;size=3;token=***')).toBe('gemini://example.org:1970/wiki/p.gmi');
  });

  it('names an identity, or the --cert certificate', () => {
    expect(describeSentIdentity({ name: null, fingerprint: FP })).toBe(`the certificate given with --cert (sha256 ${FP.slice(0, 16)}…)`);
    expect(tls12IdentityWarning({ name: 'alice', fingerprint: FP }, 'example.org')).toContain('identity alice');
    expect(tls12IdentityWarning({ name: 'alice', fingerprint: FP }, 'example.org')).toContain('over TLS 1.2');
  });
});

describe('commands in hints are safe to paste into a shell (found by review)', () => {
  // A hostile capsule redirects to a URL of its choosing, then answers 60: the hint shows that URL.
  const hostile = "gemini://evil.example/x;$(touch${IFS}pwned)&echo'`id`'*";
  it('a URL with shell syntax is one single-quoted word in every suggested command', () => {
    const lines = certificateStatusLines({ url: hostile, status: 60, meta: 'log in', identity: null, identities: ['alice'] });
    const commands = lines.map((l) => /gemfetch .*/.exec(l)?.[0]).filter((c): c is string => c !== undefined);
    expect(commands).toHaveLength(3);
    for (const command of commands) {
      // What sh makes of the pasted command: its words, printed one per line by printf; nothing is run.
      const words = execFileSync('sh', ['-c', `printf '%s\\n' ${command.replace(/^gemfetch /, '')}`], { cwd: '/', encoding: 'utf8' }).trimEnd().split('\n');
      expect(words.at(-1)).toMatch(/^gemini:\/\/evil\.example\/x;\$\(touch/);
      expect(words.at(-1)).toMatch(/&echo'.*'\*$/); // the ; & ' and * reached the word as they are: nothing was run or globbed
    }
    const none = certificateStatusLines({ url: hostile, status: 60, meta: 'log in', identity: null, identities: [] });
    expect(none[1]).toMatch(/--scope 'gemini:\/\/evil\.example\/x;\$\(touch/);
  });

  it('shellWord leaves plain URLs alone and quotes the rest, a quote included', () => {
    expect(shellWord('gemini://example.org:1966/app/login')).toBe('gemini://example.org:1966/app/login');
    expect(shellWord('gemini://[::1]/a')).toBe("'gemini://[::1]/a'");
    expect(shellWord("it's")).toBe("'it'\\''s'");
    expect(execFileSync('sh', ['-c', `printf %s ${shellWord("a'b $(c) *")}`], { encoding: 'utf8' })).toBe("a'b $(c) *");
  });
});
