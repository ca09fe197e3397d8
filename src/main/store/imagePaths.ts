/**
 * The rule for the image paths a project stores (formats/paths.ts storedPathProblem) as the store
 * checks it on open: a project file whose rows break it (edited by hand, or by an attacker) is
 * refused; every read of an image checks it again (project/imageFiles.ts).
 */

/**
 * An SQL condition true for every path that may break the rule (and a few that do not, which the
 * exact check then clears): an index-free scan, but one that reads no row into JavaScript when the
 * project is sound.
 */
export const SUSPICIOUS_PATH_SQL = `path = '' OR path = '.' OR path GLOB '/*' OR path GLOB '[A-Za-z]:*'
  OR path GLOB '*/' OR path GLOB '*//*' OR path GLOB './*' OR path GLOB '*/./*' OR path GLOB '*/.'
  OR path GLOB '*..*' OR instr(path, char(92)) > 0 OR path GLOB ('*[' || char(1) || '-' || char(31) || char(127) || ']*')`
