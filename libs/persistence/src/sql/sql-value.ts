/** A value the runtime's and toolkit's own statements pass to a prepared statement. */
export type SqlValue = string | number | boolean | null | readonly string[];
