import { describe, expect, it } from 'vitest';
import { extractLinks, GemtextParser, parseGemtext, splitLines } from '../src/protocol/gemtext.js';

const whatwgResolve = (base: string, ref: string): string => new URL(ref, base).href;

describe('GemtextParser line types', () => {
  const parse = (line: string) => new GemtextParser().parseLine(line);

  it('classifies plain text, including empty lines', () => {
    expect(parse('hello world')).toEqual({ type: 'text', text: 'hello world' });
    expect(parse('')).toEqual({ type: 'text', text: '' });
    expect(parse('  indented')).toEqual({ type: 'text', text: '  indented' });
  });

  it('parses links with and without labels, spaces or tabs', () => {
    expect(parse('=> gemini://example.org/ Example')).toEqual({ type: 'link', url: 'gemini://example.org/', label: 'Example' });
    expect(parse('=>gemini://example.org/')).toEqual({ type: 'link', url: 'gemini://example.org/', label: '' });
    expect(parse('=>\t/path\t\tA  label with  spaces  ')).toEqual({ type: 'link', url: '/path', label: 'A  label with  spaces' });
    expect(parse('=> relative/page.gmi')).toEqual({ type: 'link', url: 'relative/page.gmi', label: '' });
    expect(parse('=> /x   ')).toEqual({ type: 'link', url: '/x', label: '' });
  });

  it('keeps non-gemini schemes as written', () => {
    for (const url of ['gopher://g.example/1/', 'https://w.example/?q=1', 'about:blank', 'data:text/plain,hi', 'mailto:a@b.example']) {
      expect(parse(`=> ${url} x`)).toEqual({ type: 'link', url, label: 'x' });
    }
  });

  it('torture cases: empty link, label before URL, URL in angle brackets', () => {
    expect(parse('=>')).toEqual({ type: 'text', text: '=>' });
    expect(parse('=>   ')).toEqual({ type: 'text', text: '=>   ' });
    expect(parse('=> Label gemini://example.org/')).toEqual({ type: 'link', url: 'Label', label: 'gemini://example.org/' });
    expect(parse('=> <gemini://example.org/> Angle')).toEqual({ type: 'link', url: '<gemini://example.org/>', label: 'Angle' });
  });

  it('parses the three heading levels and trims leading whitespace', () => {
    expect(parse('# Title')).toEqual({ type: 'heading', level: 1, text: 'Title' });
    expect(parse('##Sub')).toEqual({ type: 'heading', level: 2, text: 'Sub' });
    expect(parse('###  \tThird')).toEqual({ type: 'heading', level: 3, text: 'Third' });
    expect(parse('#### Four')).toEqual({ type: 'heading', level: 3, text: '# Four' });
    expect(parse('#')).toEqual({ type: 'heading', level: 1, text: '' });
  });

  it('needs the space after * for a list item', () => {
    expect(parse('* item')).toEqual({ type: 'list', text: 'item' });
    expect(parse('*item')).toEqual({ type: 'text', text: '*item' });
    expect(parse('** bold?')).toEqual({ type: 'text', text: '** bold?' });
    expect(parse(' * indented')).toEqual({ type: 'text', text: ' * indented' });
  });

  it('parses quotes with or without a space', () => {
    expect(parse('> quoted')).toEqual({ type: 'quote', text: 'quoted' });
    expect(parse('>quoted')).toEqual({ type: 'quote', text: 'quoted' });
    expect(parse('>')).toEqual({ type: 'quote', text: '' });
  });

  it('ignores one trailing CR', () => {
    expect(parse('=> /a label\r')).toEqual({ type: 'link', url: '/a', label: 'label' });
    expect(parse('text\r')).toEqual({ type: 'text', text: 'text' });
  });
});

describe('GemtextParser preformatted mode', () => {
  it('toggles with ``` and keeps everything verbatim inside', () => {
    const parser = new GemtextParser();
    expect(parser.inPreformatted).toBe(false);
    expect(parser.parseLine('```  ascii art ')).toEqual({ type: 'preformat-start', alt: 'ascii art' });
    expect(parser.inPreformatted).toBe(true);
    for (const line of ['=> gemini://x/ not a link', '# not a heading', '* not a list', '> not a quote', '  spaced  ', '']) {
      expect(parser.parseLine(line)).toEqual({ type: 'preformatted', text: line });
    }
    expect(parser.parseLine('``` trailing text ignored')).toEqual({ type: 'preformat-end' });
    expect(parser.inPreformatted).toBe(false);
    expect(parser.parseLine('=> /after')).toEqual({ type: 'link', url: '/after', label: '' });
  });

  it('gives an empty alt text when there is none', () => {
    expect(new GemtextParser().parseLine('```')).toEqual({ type: 'preformat-start', alt: '' });
  });

  it('does not toggle on fewer than three backticks or indented fences', () => {
    const parser = new GemtextParser();
    expect(parser.parseLine('``')).toEqual({ type: 'text', text: '``' });
    expect(parser.parseLine(' ```')).toEqual({ type: 'text', text: ' ```' });
    expect(parser.inPreformatted).toBe(false);
  });
});

describe('parseGemtext', () => {
  it('splits on LF and CRLF, without an extra line for the final newline', () => {
    expect(parseGemtext('# A\r\ntext\n=> /b B\n')).toEqual([
      { type: 'heading', level: 1, text: 'A' },
      { type: 'text', text: 'text' },
      { type: 'link', url: '/b', label: 'B' },
    ]);
    expect(parseGemtext('')).toEqual([]);
    expect(parseGemtext('\n')).toEqual([{ type: 'text', text: '' }]);
    expect(parseGemtext('a\n\nb')).toHaveLength(3);
  });

  it('tracks preformatted state across the document, including an unterminated block', () => {
    const lines = parseGemtext('```\n=> /in\n```\n=> /out\n```\n# still pre');
    expect(lines.map((l) => l.type)).toEqual([
      'preformat-start', 'preformatted', 'preformat-end', 'link', 'preformat-start', 'preformatted',
    ]);
  });

  it('splitLines handles mixed endings', () => {
    expect(splitLines('a\r\nb\nc\r\n')).toEqual(['a', 'b', 'c']);
    expect(splitLines('a\rb')).toEqual(['a\rb']);
  });
});

describe('extractLinks', () => {
  const base = 'gemini://example.org/dir/page.gmi';

  it('resolves absolute, scheme-relative, absolute-path and relative links', () => {
    const doc = [
      '=> gemini://other.example/x Abs',
      '=> //third.example/p Scheme-relative',
      '=> /root Root',
      '=> sibling.gmi',
      '=> ../up Up',
      '=> ../../../../above-root',
      '=> ./dot/./seg/../x',
      '=> ?q=1 Query',
    ].join('\n');
    expect(extractLinks(doc, base, whatwgResolve)).toEqual([
      { url: 'gemini://other.example/x', label: 'Abs' },
      { url: 'gemini://third.example/p', label: 'Scheme-relative' },
      { url: 'gemini://example.org/root', label: 'Root' },
      { url: 'gemini://example.org/dir/sibling.gmi', label: '' },
      { url: 'gemini://example.org/up', label: 'Up' },
      { url: 'gemini://example.org/above-root', label: '' },
      { url: 'gemini://example.org/dir/dot/x', label: '' },
      { url: 'gemini://example.org/dir/page.gmi?q=1', label: 'Query' },
    ]);
  });

  it('keeps every scheme and skips preformatted lines and empty links', () => {
    const doc = '=> gopher://g.example/ G\n=> https://w.example/ W\n```\n=> /hidden\n```\n=>\n=> about:blank';
    expect(extractLinks(doc, base, whatwgResolve).map((l) => l.url)).toEqual([
      'gopher://g.example/',
      'https://w.example/',
      'about:blank',
    ]);
  });

  it('skips links the resolver rejects', () => {
    const strict = (b: string, ref: string): string => {
      if (ref.startsWith('<')) throw new Error('bad reference');
      return whatwgResolve(b, ref);
    };
    const doc = '=> <gemini://x/> Angle\n=> http://[bad Bad\n=> /ok OK';
    expect(extractLinks(doc, base, strict)).toEqual([{ url: 'gemini://example.org/ok', label: 'OK' }]);
  });
});
