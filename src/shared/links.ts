/**
 * The only web pages the app opens (in the user's browser, never in an app window): camlabel's
 * references. The main process refuses any other URL, so a link injected into the page could
 * not send the user anywhere.
 */
export const EXTERNAL_LINKS = {
  /** Zhou et al., Learning Deep Features for Discriminative Localization (CVPR 2016). */
  cam: 'https://arxiv.org/abs/1512.04150',
  /** Belharbi et al., F-CAM: Full Resolution Class Activation Maps (WACV 2022). */
  fcam: 'https://arxiv.org/abs/2109.07069',
} as const

/** True for exactly one of the app's own links. */
export function isExternalLink(url: string): boolean {
  return (Object.values(EXTERNAL_LINKS) as string[]).includes(url)
}
