/** A control message that could not be decoded or failed validation. The message says which field and why. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Render zod issues as `field.path: reason; ...` so an error names what is wrong. */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
