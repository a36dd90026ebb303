// Arrival order of waits (WaitOptions.ticket), one counter per process shared by every
// backend in it: the server hands tickets out for waits that span several long-polls, and
// the backend it serves (embedded or PostgreSQL) compares them with its own.

let lastTicket = 0;

/** A ticket for a wait arriving now. */
export function waitTicket(): number {
  return ++lastTicket;
}
