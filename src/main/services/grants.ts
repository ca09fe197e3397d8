/**
 * Paths the page may use, by opaque token. The page never sends a file-system path: a path reaches
 * a route only as the token of a choice the user made in a main-side picker (the native dialog),
 * or of a path main itself offered (a recent project). A token names one path of one kind and is
 * valid for this app run; anything else the page sends is refused. So a script in the page — were
 * one ever to run — could read or overwrite only what the user chose.
 */
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'

/** What a path is for: an existing folder, an existing file, or a file or folder to write. */
export type GrantKind = 'folder' | 'file' | 'save'

/** A granted path as the page sees it: the token to send back, and the path to show. */
export interface PathChoice {
  token: string
  path: string
  name: string
}

export class PathGrants {
  private readonly byToken = new Map<string, { kind: GrantKind; path: string }>()

  /** Grants `file` (absolute) of `kind`; the same path and kind get the same token. */
  grant(kind: GrantKind, file: string): PathChoice {
    const abs = path.resolve(file)
    for (const [token, g] of this.byToken)
      if (g.kind === kind && g.path === abs) return { token, path: abs, name: path.basename(abs) }
    const token = randomBytes(16).toString('hex')
    this.byToken.set(token, { kind, path: abs })
    return { token, path: abs, name: path.basename(abs) }
  }

  /**
   * The path of a token granted as one of `kinds`.
   * @throws CamlabelError INVALID_ARGUMENT naming the field, for a token never granted or of
   *   another kind
   */
  resolve(token: string, kinds: readonly GrantKind[], field: string): string {
    const g = this.byToken.get(token)
    if (!g || !kinds.includes(g.kind)) {
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `The ${field} was not chosen in this window`,
        `Choose the ${field} again with its Choose… button.`,
      )
    }
    return g.path
  }
}
