// Bearer-token auth. Both tokens are hashed before the constant-time compare, so the
// comparison takes the same time whatever the presented token's length or content.

import { createHash, timingSafeEqual } from "node:crypto";
import { AuthError } from "../proto/errors.ts";

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** Throws AuthError unless the request's Authorization header is `Bearer <token>`. */
  check(header: string | undefined): void {
    const match = header === undefined ? null : /^Bearer (.+)$/i.exec(header.trim());
    const presented = digest(match?.[1] ?? "");
    if (!timingSafeEqual(presented, this.expected) || match === null) {
      throw new AuthError(header === undefined ? "a bearer token is required" : "the bearer token is wrong");
    }
  }

  /** Throws AuthError unless `token` (a framed connection's hello) is the token. */
  checkToken(token: string | undefined): void {
    const presented = digest(token ?? "");
    if (!timingSafeEqual(presented, this.expected) || token === undefined) {
      throw new AuthError(token === undefined ? "a token is required" : "the token is wrong");
    }
  }
}
