// Link extraction: the part of BeautifulSoup the seed uses (`soup.find_all("a")` and
// `urljoin(url, link.get("href"))`), as a small scanner. It finds `<a ...>` start tags
// (any case), reads their `href` attribute (double-quoted, single-quoted or unquoted),
// decodes the character references that appear in URLs, and resolves the href against
// the page's URL with the WHATWG URL parser.
//
// Two choices differ from the seed, both standard for crawlers: only http(s) links are
// kept (`mailto:` and `javascript:` are not pages), and the `#fragment` is dropped, since
// `page#a` and `page#b` are one page and must be fetched once.

/** Links of `html`, resolved against `baseUrl`, in page order; duplicates kept. */
export function extractLinks(html: string, baseUrl: string | URL): string[] {
  const links: string[] = [];
  const base = new Base(typeof baseUrl === "string" ? new URL(baseUrl) : baseUrl);
  let at = 0;
  for (;;) {
    const open = html.indexOf("<", at);
    if (open < 0 || open + 2 >= html.length) break;
    at = open + 1;
    if (!isAnchorStart(html, open + 1)) continue;
    const tag = readStartTag(html, open + 2);
    at = tag.end;
    if (tag.href === undefined) continue;
    const resolved = base.resolve(decodeEntities(tag.href.trim()));
    if (resolved !== undefined) links.push(resolved);
  }
  return links;
}

/** `a` or `A` followed by whitespace, `>` or `/`: an anchor, not `<abbr>` or `</a>`. */
function isAnchorStart(html: string, i: number): boolean {
  const c = html.charCodeAt(i);
  if (c !== 0x61 && c !== 0x41) return false;
  const next = html.charCodeAt(i + 1);
  return isSpace(next) || next === 0x3e /* > */ || next === 0x2f; /* / */
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/**
 * Reads attributes from `i` (just after `<a`) to the closing `>`, the way HTML tokenizes
 * them: name, optional `= value`, value quoted or not. Returns the first `href`.
 */
function readStartTag(html: string, i: number): { href: string | undefined; end: number } {
  let href: string | undefined;
  const n = html.length;
  for (;;) {
    while (i < n && (isSpace(html.charCodeAt(i)) || html.charCodeAt(i) === 0x2f)) i++;
    if (i >= n) return { href, end: n };
    if (html.charCodeAt(i) === 0x3e) return { href, end: i + 1 };
    const nameStart = i;
    while (i < n) {
      const c = html.charCodeAt(i);
      if (isSpace(c) || c === 0x3d /* = */ || c === 0x3e || c === 0x2f) break;
      i++;
    }
    const name = html.slice(nameStart, i);
    while (i < n && isSpace(html.charCodeAt(i))) i++;
    if (html.charCodeAt(i) !== 0x3d) continue; // attribute without a value
    i++;
    while (i < n && isSpace(html.charCodeAt(i))) i++;
    let value: string;
    const quote = html.charCodeAt(i);
    if (quote === 0x22 || quote === 0x27) {
      const close = html.indexOf(html[i]!, i + 1);
      const end = close < 0 ? n : close;
      value = html.slice(i + 1, end);
      i = end + 1;
    } else {
      const start = i;
      while (i < n && !isSpace(html.charCodeAt(i)) && html.charCodeAt(i) !== 0x3e) i++;
      value = html.slice(start, i);
    }
    if (href === undefined && name.length === 4 && name.toLowerCase() === "href") href = value;
  }
}

const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

/** Decodes `&amp;`, the other XML entities and numeric references; leaves the rest as is. */
function decodeEntities(value: string): string {
  if (!value.includes("&")) return value;
  return value.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body[0] !== "#") return NAMED_ENTITIES[body] ?? whole;
    const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/**
 * Whether `s` from `from` is a path made only of plain segments: letters, digits and
 * `._~-`, each segment starting with a character other than a dot (so no "." or ".."),
 * separated by single slashes; nothing to percent-encode, no query. For such a path, URL
 * resolution is string concatenation, which is what `Base.resolve` does instead of
 * running the full parser on every link; anything else goes to `new URL`.
 */
function isPlainPath(s: string, from: number): boolean {
  let segmentStart = true;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2f /* / */) {
      if (segmentStart) return false;
      segmentStart = true;
      continue;
    }
    const plain =
      (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x7e || c === 0x2d;
    if (!plain && !(c === 0x2e /* . */ && !segmentStart)) return false;
    segmentStart = false;
  }
  return true;
}

/** A page's URL, ready to resolve many hrefs against. */
class Base {
  /** "http://host:port", as the URL parser writes it. */
  private readonly origin: string;
  /** The base path up to and including its last "/". */
  private readonly folder: string;
  private readonly plain: boolean;

  constructor(private readonly url: URL) {
    this.origin = url.origin;
    this.folder = url.pathname.slice(0, url.pathname.lastIndexOf("/") + 1);
    this.plain = (url.protocol === "http:" || url.protocol === "https:") && isPlainPath(this.folder, 1);
  }

  /** The absolute http(s) URL `href` points to, without its fragment; undefined for other schemes or junk. */
  resolve(href: string): string | undefined {
    const hash = href.indexOf("#");
    if (hash >= 0) href = href.slice(0, hash);
    if (this.plain) {
      // Fast paths, each giving exactly what `new URL(href, base).href` gives.
      const n = this.origin.length;
      if (href.startsWith(this.origin) && href.charCodeAt(n) === 0x2f && isPlainPath(href, n + 1)) return href;
      if (href.charCodeAt(0) === 0x2f && isPlainPath(href, 1)) return this.origin + href;
      const relative = this.relative(href);
      if (relative !== undefined) return relative;
    }
    return this.parse(href);
  }

  /** `x/y`, `./x/y` or `../../x/y` with a plain rest, against the base's folder. */
  private relative(href: string): string | undefined {
    let at = 0;
    let folderEnd = this.folder.length; // just past the folder's last "/"
    if (href.startsWith("./")) at = 2;
    else {
      while (href.startsWith("../", at)) {
        at += 3;
        // One folder up; ".." at the root stays at the root.
        if (folderEnd > 1) folderEnd = this.folder.lastIndexOf("/", folderEnd - 2) + 1;
      }
    }
    if (at === href.length || href.charCodeAt(at) === 0x2f || !isPlainPath(href, at)) return undefined;
    return this.origin + this.folder.slice(0, folderEnd) + href.slice(at);
  }

  private parse(href: string): string | undefined {
    let url: URL;
    try {
      url = new URL(href, this.url);
    } catch {
      return undefined;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (url.hash !== "") url.hash = "";
    return url.href;
  }
}
