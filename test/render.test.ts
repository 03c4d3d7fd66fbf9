import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SEGMENTER_INPUT } from '../src/cli/graphemes.js';
import { GemtextRenderer, renderGemtext, type RenderOptions } from '../src/cli/render.js';
import { displayWidth, graphemes, sanitizeForTerminal, wrapText } from '../src/cli/terminal-text.js';

const ESC = '\x1b';
const OSC_TITLE = '\x1b]0;pwned\x07';
const CLEAR_SCREEN = '\x1b[2J';
const plain = (width = 40): RenderOptions => ({ width, color: false });
const colored = (width = 40): RenderOptions => ({ width, color: true });
const stripSgr = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');
const lines = (out: string): string[] => out.split('\n').slice(0, -1);

/** Every physical line fits `width` columns. */
function expectFits(wrapped: string[], width: number): void {
  for (const line of wrapped) expect(displayWidth(line), JSON.stringify(line)).toBeLessThanOrEqual(width);
}

/** Wrapping only drops spaces at breaks: the words come back in order. */
function expectSameWords(wrapped: string[], text: string): void {
  expect(wrapped.join('').replace(/ /g, '')).toBe(text.replace(/ /g, ''));
}

describe('sanitizeForTerminal', () => {
  it('strips whole CSI, OSC and DCS sequences, 7-bit and C1', () => {
    expect(sanitizeForTerminal(`a${OSC_TITLE}b`)).toBe('ab');
    expect(sanitizeForTerminal(`a${CLEAR_SCREEN}b`)).toBe('ab');
    expect(sanitizeForTerminal('\x9b31mred')).toBe('red');
    expect(sanitizeForTerminal('x\x1b[38;5;196my')).toBe('xy');
    expect(sanitizeForTerminal('t\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\')).toBe('tlink');
    expect(sanitizeForTerminal('a\x9d0;title\x9cb')).toBe('ab');
    expect(sanitizeForTerminal('a\x1bP1$r0m\x1b\\b')).toBe('ab');
    expect(sanitizeForTerminal('a\x1b_apc\x07b\x1b^pm\x1b\\c')).toBe('abc');
    expect(sanitizeForTerminal('a\x1bcb\x1b(Bc\x1b7d')).toBe('abcd');
  });

  it('strips unterminated sequences to the end and a lone ESC', () => {
    expect(sanitizeForTerminal('ok\x1b]0;never terminated')).toBe('ok');
    expect(sanitizeForTerminal('ok\x1b')).toBe('ok');
    expect(sanitizeForTerminal('ok\x1b[')).toBe('ok');
  });

  it('removes C0 (except TAB), DEL, C1 and bidi overrides, keeps ordinary Unicode', () => {
    expect(sanitizeForTerminal('a\x00b\x07c\x08d\re\nf\x7fg\x85h\x84i')).toBe('abcdefghi');
    expect(sanitizeForTerminal('a\x9fapc string\x9cb')).toBe('ab'); // C1 APC is a whole string
    expect(sanitizeForTerminal('tab\there')).toBe('tab\there');
    expect(sanitizeForTerminal('gemini://\u202Egro.elpmaxe\u202C/')).toBe('gemini://gro.elpmaxe/');
    expect(sanitizeForTerminal('\u2066x\u2067y\u2068z\u2069\u202A\u202B\u202D')).toBe('xyz');
    const unicode = 'café e\u0301 日本 👨‍👩‍👧 \u200d \u200f עברית';
    expect(sanitizeForTerminal(unicode)).toBe(unicode);
  });

  it('is idempotent and never leaves an ESC behind', () => {
    const nasty = `\x1b\x1b[[2J\x1b]\x1b]0;x\x07\x07${OSC_TITLE}\x9b\x9b2J`;
    const once = sanitizeForTerminal(nasty);
    expect(once).not.toContain(ESC);
    expect(once).not.toMatch(/[\x80-\x9f]/);
    expect(sanitizeForTerminal(once)).toBe(once);
  });
});

describe('displayWidth', () => {
  it('counts ASCII and Latin as 1', () => {
    expect(displayWidth('hello')).toBe(5);
    expect(displayWidth('')).toBe(0);
    expect(displayWidth('café')).toBe(4);
  });

  it('counts combining marks as 0', () => {
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('e\u0301\u0323')).toBe(1);
    expect(displayWidth('ne\u0301e\u0301')).toBe(3);
  });

  it('counts CJK, Hangul, fullwidth forms as 2', () => {
    expect(displayWidth('日本語')).toBe(6);
    expect(displayWidth('한국어')).toBe(6);
    expect(displayWidth('\u1100\u1161\u11a8')).toBe(2); // conjoining jamo = one syllable
    expect(displayWidth('ＡＢ')).toBe(4);
    expect(displayWidth('カタカナ、')).toBe(10);
    expect(displayWidth('𠀀')).toBe(2);
  });

  it('counts emoji, ZWJ sequences, flags and VS16 emoji as 2', () => {
    expect(displayWidth('😀')).toBe(2);
    expect(displayWidth('👨‍👩‍👧')).toBe(2);
    expect(displayWidth('👍🏽')).toBe(2);
    expect(displayWidth('🇫🇷')).toBe(2);
    expect(displayWidth('❤️')).toBe(2);
    expect(displayWidth('1️⃣')).toBe(2);
  });

  it('counts zero-width and control characters as 0', () => {
    expect(displayWidth('a\u200bb')).toBe(2);
    expect(displayWidth('\ufeff')).toBe(0);
    expect(displayWidth('\t')).toBe(0);
  });
});

describe('wrapText', () => {
  const lorem =
    'Gemini is a new internet communication protocol for accessing remote documents, similar to HTTP and Gopher.';

  it('wraps at spaces to widths 20, 40 and 80', () => {
    for (const width of [20, 40, 80]) {
      const wrapped = wrapText(lorem, width);
      expectFits(wrapped, width);
      expectSameWords(wrapped, lorem);
      for (const line of wrapped) expect(line).not.toMatch(/^ | $/);
    }
    expect(wrapText(lorem, 40)).toEqual([
      'Gemini is a new internet communication',
      'protocol for accessing remote documents,',
      'similar to HTTP and Gopher.',
    ]);
    expect(wrapText(lorem, 200)).toEqual([lorem]);
  });

  it('fills lines greedily (no line could take the next word)', () => {
    const wrapped = wrapText(lorem, 20);
    for (let i = 0; i < wrapped.length - 1; i++) {
      const nextWord = wrapped[i + 1]!.split(' ')[0]!;
      expect(displayWidth(`${wrapped[i]} ${nextWord}`)).toBeGreaterThan(20);
    }
  });

  it('returns one empty line for empty or blank text', () => {
    expect(wrapText('', 20)).toEqual(['']);
    expect(wrapText('   ', 20)).toEqual(['']);
    expect(wrapText('', 20, { firstPrefix: '> ' })).toEqual(['> ']);
  });

  it('keeps leading indentation and inner space runs, drops spaces at breaks', () => {
    expect(wrapText('  indented  text', 40)).toEqual(['  indented  text']);
    expect(wrapText('aaaa    bbbb', 6)).toEqual(['aaaa', 'bbbb']);
    expect(wrapText('tab\tseparated', 40)).toEqual(['tab separated']);
  });

  it('breaks a word with no spaces at grapheme boundaries', () => {
    const long = 'x'.repeat(95);
    for (const width of [20, 40, 80]) {
      const wrapped = wrapText(long, width);
      expectFits(wrapped, width);
      expect(wrapped.join('')).toBe(long);
      expect(wrapped[0]).toHaveLength(width);
    }
    const url = 'gemini://example.org/' + 'segment/'.repeat(10);
    expect(wrapText(`see ${url}`, 20)[0]).toBe('see');
  });

  it('wraps CJK text by width 2 without splitting characters', () => {
    const cjk = '日本語のテキストを折り返します。これは長い文です。';
    for (const width of [20, 40, 21]) {
      const wrapped = wrapText(cjk, width);
      expectFits(wrapped, width);
      expect(wrapped.join('')).toBe(cjk);
    }
    expect(wrapText(cjk, 21)[0]).toBe('日本語のテキストを折');
    expect(wrapText('日本 語', 1)).toEqual(['日', '本', '語']); // a wide char alone may exceed 1 column
  });

  it('never splits combining sequences or emoji', () => {
    const accented = 'e\u0301'.repeat(30);
    const wrapped = wrapText(accented, 20);
    expect(wrapped).toEqual(['e\u0301'.repeat(20), 'e\u0301'.repeat(10)]);
    const family = '👨‍👩‍👧'.repeat(15);
    const emojiLines = wrapText(family, 20);
    expect(emojiLines.map((l) => graphemes(l).length)).toEqual([10, 5]);
    for (const line of emojiLines) expect(line.startsWith('\u200d')).toBe(false);
    expectFits(wrapText('ok 👍🏽👍🏽👍🏽👍🏽👍🏽 🇫🇷🇫🇷🇫🇷 done', 7), 7);
    expect(wrapText('ok 👍🏽👍🏽👍🏽👍🏽👍🏽 done', 7)).toEqual(['ok', '👍🏽👍🏽👍🏽', '👍🏽👍🏽', 'done']);
  });

  it('breaks hyphenated words after the hyphen', () => {
    expect(wrapText('a well-known self-signed certificate', 16)).toEqual(['a well-known', 'self-signed', 'certificate']);
    expect(wrapText('state-of-the-art', 10)).toEqual(['state-of-', 'the-art']);
    expect(wrapText('use --verbose-mode', 10)).toEqual(['use', '--verbose-', 'mode']);
    expect(wrapText('a--b', 3)).toEqual(['a--', 'b']);
    const hyphens = 'This line-has-many-hyphens-that-could-be-used-for-breaking-it-up nicely';
    const wrapped = wrapText(hyphens, 20);
    expectFits(wrapped, 20);
    expect(wrapped.join('').replace(/ /g, '')).toBe(hyphens.replace(/ /g, ''));
  });

  it('counts prefixes in the width and uses restPrefix on following lines', () => {
    const wrapped = wrapText(lorem, 20, { firstPrefix: '• ', restPrefix: '  ' });
    expectFits(wrapped, 20);
    expect(wrapped[0]!.startsWith('• ')).toBe(true);
    for (const line of wrapped.slice(1)) expect(line).toMatch(/^ {2}\S/);
    expect(wrapText('abcdef', 3, { firstPrefix: '>>>>', restPrefix: '>>>>' })).toEqual([
      '>>>>a', '>>>>b', '>>>>c', '>>>>d', '>>>>e', '>>>>f',
    ]);
  });
});

describe('GemtextRenderer without colour', () => {
  it('renders headings with their markers and hanging indent', () => {
    expect(renderGemtext('# One\n## Two\n### Three', plain())).toBe('# One\n## Two\n### Three\n');
    expect(lines(renderGemtext('# a heading that wraps', plain(12)))).toEqual(['# a heading', '  that wraps']);
  });

  it('renders list items with a bullet and hanging indent', () => {
    const out = lines(renderGemtext('* first item is long enough to wrap\n* second', plain(20)));
    expect(out).toEqual(['• first item is long', '  enough to wrap', '• second']);
  });

  it('renders quotes with "> " on every wrapped line', () => {
    const out = lines(renderGemtext('> a quoted sentence that wraps twice over', plain(16)));
    expect(out.length).toBeGreaterThan(1);
    for (const line of out) expect(line.startsWith('> ')).toBe(true);
    expectFits(out, 16);
  });

  it('renders numbered links with label and target', () => {
    const renderer = new GemtextRenderer(plain(80));
    expect(renderer.renderLine('=> gemini://example.org/x Example')).toBe('[1] Example ⟶\u00a0gemini://example.org/x\n');
    expect(renderer.renderLine('=> /bare')).toBe('[2] /bare\n');
    expect(renderer.renderLine('=> https://web.example/ Web')).toBe('[3] Web ⟶\u00a0https://web.example/\n');
    expect(renderer.links).toEqual(['gemini://example.org/x', '/bare', 'https://web.example/']);
  });

  it('shows targets resolved against baseUrl, other schemes visibly', () => {
    const options = { ...plain(80), baseUrl: 'gemini://example.org/dir/page.gmi' };
    const renderer = new GemtextRenderer(options);
    const out = ['=> ../up Up', '=> sub', '=> //other.example/', '=> gopher://g.example/1/ Hole', '=> http://[bad']
      .map((l) => renderer.renderLine(l))
      .join('');
    expect(lines(out)).toEqual([
      '[1] Up ⟶\u00a0gemini://example.org/up',
      '[2] gemini://example.org/dir/sub',
      '[3] gemini://other.example/',
      '[4] Hole ⟶\u00a0gopher://g.example/1/',
      '[5] http://[bad',
    ]);
    expect(renderer.links).toEqual(['../up', 'sub', '//other.example/', 'gopher://g.example/1/', 'http://[bad']);
  });

  it('wraps long links with an indent that lines up after the number', () => {
    const out = lines(renderGemtext('=> gemini://example.org/a/rather/long/path/name.gmi A fairly long label', plain(30)));
    expect(out).toEqual(['[1] A fairly long label', '    ⟶\u00a0gemini://example.org/a/rather/long/path/name.gmi']);
  });

  it('renders the torture link cases', () => {
    const renderer = new GemtextRenderer(plain(80));
    const out = ['=> Label gemini://example.org/', '=> <gemini://example.org/> Angle', '=>', '=> ']
      .map((l) => renderer.renderLine(l))
      .join('');
    expect(lines(out)).toEqual(['[1] gemini://example.org/ ⟶\u00a0Label', '[2] Angle ⟶\u00a0<gemini://example.org/>', '=>', '=>']);
    expect(renderer.links).toEqual(['Label', '<gemini://example.org/>']);
  });

  it('keeps preformatted lines verbatim and unwrapped, hides toggles', () => {
    const art = '  +-----+   a long preformatted line that must not be wrapped at all';
    const out = renderGemtext(`before\n\`\`\`ascii art\n${art}\n=> /not-a-link\n\`\`\`\nafter`, plain(20));
    expect(lines(out)).toEqual(['before', art, '=> /not-a-link', 'after']);
  });

  it('keeps empty lines and never joins consecutive short lines', () => {
    expect(renderGemtext('one\ntwo\n\nthree\n', plain())).toBe('one\ntwo\n\nthree\n');
    expect(renderGemtext('', plain())).toBe('');
  });

  it('wraps text lines to the width', () => {
    const text = 'Lines of text are wrapped by the client, never by the server, because the client knows the width.';
    for (const width of [20, 40, 80]) {
      const out = lines(renderGemtext(text, plain(width)));
      expectFits(out, width);
      expectSameWords(out, text);
    }
  });

  it('emits no escape codes at all', () => {
    const out = renderGemtext('# H\n* l\n> q\n=> /x L\n```alt\npre\n```\ntext', plain());
    expect(out).not.toContain(ESC);
  });

  it('finish() returns an empty string even for an unterminated block', () => {
    const renderer = new GemtextRenderer(plain());
    renderer.renderLine('```');
    renderer.renderLine('still pre');
    expect(renderer.finish()).toBe('');
  });

  it('tolerates a trailing CR on fed lines', () => {
    const renderer = new GemtextRenderer(plain());
    expect(renderer.renderLine('hello\r')).toBe('hello\n');
  });
});

describe('GemtextRenderer with colour', () => {
  it('renders headings bold, level 1 underlined and coloured, without markers', () => {
    const out = lines(renderGemtext('# One\n## Two\n### Three', colored()));
    expect(out[0]).toBe('\x1b[1;4;36mOne\x1b[0m');
    expect(out[1]).toBe('\x1b[1;36mTwo\x1b[0m');
    expect(out[2]).toBe('\x1b[1mThree\x1b[0m');
  });

  it('styles link numbers and targets and resets on every line', () => {
    const out = lines(renderGemtext('=> gemini://example.org/some/long/path/to/wrap.gmi Label', colored(30)));
    expect(out[0]!.startsWith('\x1b[1;36m[1] \x1b[0mLabel')).toBe(true);
    for (const line of out) {
      const codes = line.match(/\x1b\[[0-9;]*m/g) ?? [];
      expect(codes.filter((c) => c === '\x1b[0m')).toHaveLength(codes.length / 2);
      if (codes.length > 0) expect(codes[codes.length - 1]).toBe('\x1b[0m'); // nothing leaks to the next line
    }
    expect(out.map(stripSgr)).toEqual(['[1] Label', '    ⟶\u00a0gemini://example.org/some/long/path/to/wrap.gmi']);
    expect(out[1]).toBe('    \x1b[2m⟶\u00a0gemini://example.org/some/long/path/to/wrap.gmi\x1b[0m');
  });

  it('has the same text as the plain rendering once styles are removed (except heading markers)', () => {
    const doc = 'para one that is long enough to need wrapping here\n* item\n> quote that also wraps around\n=> /x Label\n```\npre\n```';
    expect(stripSgr(renderGemtext(doc, colored(20)))).toBe(renderGemtext(doc, plain(20)));
  });

  it('prints preformatted alt text dimmed, content unstyled', () => {
    const out = lines(renderGemtext('```figure 1\n  x  \n```', colored()));
    expect(out).toEqual(['\x1b[2;3mfigure 1\x1b[0m', '  x  ']);
  });

  it('styles the quote prefix on every wrapped line', () => {
    const out = lines(renderGemtext('> a quoted sentence that wraps twice over', colored(16)));
    for (const line of out) expect(line.startsWith('\x1b[2m> \x1b[0m')).toBe(true);
  });
});

describe('GemtextRenderer sanitizes all server text', () => {
  const attacks = [OSC_TITLE, CLEAR_SCREEN, '\x9b2J', '\x1bP+q\x1b\\', '\x07', '\x1b[31m'];
  const lineTemplates = [
    (a: string) => `text ${a} here`,
    (a: string) => `# heading ${a}`,
    (a: string) => `## heading ${a}`,
    (a: string) => `* item ${a}`,
    (a: string) => `> quote ${a}`,
    (a: string) => `=> gemini://example.org/${a} label ${a}`,
    (a: string) => `=> gemini://example.org/${a}`,
    (a: string) => `=> ${a}gemini://x/`,
    (a: string) => `${a}=> /x`,
  ];

  for (const color of [false, true]) {
    it(`removes control sequences in every line type (color=${color})`, () => {
      for (const attack of attacks) {
        const doc = [
          ...lineTemplates.map((t) => t(attack)),
          `\`\`\`alt ${attack}`,
          `pre ${attack} formatted`,
          `=> ${attack}`,
          '```',
        ].join('\n');
        for (const baseUrl of [undefined, 'gemini://example.org/']) {
          const out = renderGemtext(doc, { width: 40, color, baseUrl });
          expect(out).not.toContain(OSC_TITLE);
          expect(out).not.toContain(CLEAR_SCREEN);
          expect(out).not.toContain('\x07');
          expect(out).not.toMatch(/[\x80-\x9f]/);
          expect(out).not.toContain('\x1b]');
          expect(out).not.toContain('\x1bP');
          const withoutOwnSgr = out.replace(/\x1b\[(?:0|1|2|1;36|1;4;36|2;3)m/g, '');
          expect(withoutOwnSgr).not.toContain(ESC);
        }
      }
    });
  }

  it('keeps the visible text around stripped sequences', () => {
    const out = renderGemtext(`=> gemini://example.org/a${OSC_TITLE} evil${CLEAR_SCREEN} label\n\`\`\`\nart${OSC_TITLE}work\n\`\`\``, plain(80));
    expect(lines(out)).toEqual(['[1] evil label ⟶\u00a0gemini://example.org/a', 'artwork']);
  });

  it('strips bidi overrides that could disguise a link target', () => {
    const out = renderGemtext('=> gemini://evil.example/\u202Egro.knab Bank \u2066x\u2069', plain(80));
    expect(out).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(out).toBe('[1] Bank x ⟶\u00a0gemini://evil.example/gro.knab\n');
  });
});

describe('linear rendering of long words', () => {
  /** An Intl.Segmenter made before any spy: the reference clusters of a whole string. */
  const reference = new Intl.Segmenter('en', { granularity: 'grapheme' });
  const referenceClusters = (s: string): string[] => Array.from(reference.segment(s), (x) => x.segment);

  /**
   * Records the length of every string given to Intl.Segmenter and refuses one
   * longer than `MAX_SEGMENTER_INPUT` at once (a quadratic segmentation of a
   * 1 MB word would take minutes before failing). A plain wrapper, not vi.fn:
   * that one would keep every argument of a million calls.
   */
  const original = Intl.Segmenter.prototype.segment;
  function watchSegmenter(): { longest: number; total: number } {
    const seen = { longest: 0, total: 0 };
    Intl.Segmenter.prototype.segment = function (this: Intl.Segmenter, input: string) {
      seen.longest = Math.max(seen.longest, input.length);
      seen.total += input.length;
      if (input.length > MAX_SEGMENTER_INPUT) throw new Error(`Intl.Segmenter given ${input.length} code units at once`);
      return original.call(this, input);
    };
    return seen;
  }
  afterEach(() => {
    Intl.Segmenter.prototype.segment = original;
  });

  // A 1 MiB word of accented letters with combining accents, CJK, ZWJ emoji, keycaps and flags among them.
  const unit = 'é'.repeat(40) + 'e\u0301\u0323' + '日本' + '👨‍👩‍👧' + '1\ufe0f\u20e3' + '🇫🇷';
  const hugeWord = unit.repeat(Math.ceil((1 << 20) / unit.length));

  it('never gives Intl.Segmenter more than MAX_SEGMENTER_INPUT code units, and does linear work on a 1 MB word', () => {
    const seen = watchSegmenter();
    const out = lines(renderGemtext(`${hugeWord}\n# ${hugeWord.slice(0, 1 << 18)}`, plain(80)));
    expect(seen.longest).toBeLessThanOrEqual(MAX_SEGMENTER_INPUT);
    // Linear: all in all each code unit is segmented a few times (measuring, breaking), not once per slice.
    expect(seen.total).toBeLessThan(3 * (hugeWord.length + (1 << 18)));
    expectFits(out, 80);
    expect(out.join('').replace(/[ #]/g, '')).toBe(hugeWord + hugeWord.slice(0, 1 << 18));
  });

  it('measures and wraps a 1 MB ASCII word without the segmenter', () => {
    const seen = watchSegmenter();
    const word = 'x'.repeat(1 << 20);
    expect(displayWidth(word)).toBe(1 << 20);
    const wrapped = wrapText(word, 100);
    expect(wrapped).toHaveLength(Math.ceil((1 << 20) / 100));
    expect(wrapped.join('')).toBe(word);
    expect(seen.total).toBe(0);
  });

  it('gives the same clusters as segmenting the whole string when clusters straddle a slice boundary', () => {
    const tricky = ['👨‍👩‍👧‍👦', 'e\u0301\u0323\u0308', '🇫🇷🇩🇪🇯🇵', '1\ufe0f\u20e3', '👍🏽', '\u0915\u094d\u0937', 'a\u200db', '\u1100\u1161\u11a8'];
    for (const filler of ['a', 'é', '日', '🇫🇷']) {
      for (const cluster of tricky) {
        for (let before = MAX_SEGMENTER_INPUT - 40; before <= MAX_SEGMENTER_INPUT + 2; before++) {
          const prefix = filler.repeat(Math.ceil(before / filler.length)).slice(0, before);
          const text = `${prefix}${cluster}${cluster}b${cluster}`.repeat(2);
          expect(graphemes(text), `${JSON.stringify(filler)} x ${before} + ${JSON.stringify(cluster)}`).toEqual(referenceClusters(text));
        }
      }
    }
  });

  it('gives the same clusters as Intl.Segmenter for every BMP character next to itself and to a letter', () => {
    const codePoints: string[] = [];
    for (let cp = 0x20; cp <= 0xffff; cp++) if (cp < 0xd800 || cp > 0xdfff) codePoints.push(String.fromCodePoint(cp));
    for (let i = 0; i < codePoints.length; i += 64) {
      const text = codePoints.slice(i, i + 64).map((c) => `a${c}${c}`).join('') + 'a';
      expect(graphemes(text), `U+${codePoints[i]!.codePointAt(0)!.toString(16)}...`).toEqual(referenceClusters(text));
    }
  });

  it('cuts only a cluster longer than MAX_SEGMENTER_INPUT, between code points', () => {
    const zalgo = 'Z' + '\u0301'.repeat(3 * MAX_SEGMENTER_INPUT) + 'ok';
    const astral = 'x' + '\u{1d165}'.repeat(MAX_SEGMENTER_INPUT) + 'ok'; // combining stem: surrogate pairs
    for (const text of [zalgo, astral]) {
      const pieces = graphemes(text);
      expect(pieces.join('')).toBe(text);
      expect(pieces.slice(-2)).toEqual(['o', 'k']);
      for (const piece of pieces) {
        expect(piece.length).toBeLessThanOrEqual(MAX_SEGMENTER_INPUT);
        expect(piece, 'no lone surrogate').not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }
    }
    const normal = 'e\u0301'.repeat(MAX_SEGMENTER_INPUT) + '👨‍👩‍👧‍👦'.repeat(100);
    expect(graphemes(normal)).toEqual(referenceClusters(normal));
  });
});

describe('links are never broken inside the URL', () => {
  it('wraps the label and keeps a hyphenated URL whole on a narrow terminal', () => {
    const out = lines(renderGemtext('=> gemini://example.org/cgi-bin/search.cgi Search the whole archive of this capsule', plain(30)));
    expect(out).toEqual([
      '[1] Search the whole archive',
      '    of this capsule',
      '    ⟶\u00a0gemini://example.org/cgi-bin/search.cgi',
    ]);
  });

  it('lets a URL wider than the line overflow it, unbroken, with or without a label', () => {
    const url = 'gemini://example.org/a-very-long-path/with-hyphens/and-more-hyphens/page.gmi';
    expect(lines(renderGemtext(`=> ${url}`, plain(20)))).toEqual([`[1] ${url}`]);
    expect(lines(renderGemtext(`=> ${url} Go`, plain(20)))).toEqual(['[1] Go', `    ⟶\u00a0${url}`]);
    const colouredOut = lines(renderGemtext(`=> ${url} Go`, colored(20)));
    expect(colouredOut[1]).toBe(`    \x1b[2m⟶\u00a0${url}\x1b[0m`);
  });

  it('keeps a resolved target whole and still puts a short one after the label', () => {
    const options = { ...plain(24), baseUrl: 'gemini://example.org/dir/' };
    expect(lines(renderGemtext('=> cgi-bin/search-all.cgi Find', options))).toEqual([
      '[1] Find',
      '    ⟶\u00a0gemini://example.org/dir/cgi-bin/search-all.cgi',
    ]);
    expect(lines(renderGemtext('=> /a-b Up', plain(24)))).toEqual(['[1] Up ⟶\u00a0/a-b']);
  });

  it('still breaks long label words and text outside links', () => {
    const out = lines(renderGemtext(`=> /x ${'w'.repeat(30)}`, plain(20)));
    expect(out).toEqual(['[1] wwwwwwwwwwwwwwww', '    wwwwwwwwwwwwww', '    ⟶\u00a0/x']);
    expect(lines(renderGemtext('see gemini://example.org/cgi-bin/x', plain(30)))).toEqual(['see gemini://example.org/cgi-', 'bin/x']);
  });
});
