"""Email alerts (issue 11): sign-up with double opt-in, a persistent send queue, SMTP.

- `signup`: checking what a resident types (address, place, radius, categories);
- `keys`: sealing addresses, the lookup hash, the one-time and unsubscribe tokens;
- `store`: the database jobs (subscriptions, the outbox written with each alert version);
- `compose`: the emails themselves (plain text and HTML, RFC 8058 unsubscribe);
- `smtp`: the SMTP URL and one connection to the server;
- `service`: `Mail`, what the relay and the portal call, and the sender task.
- `bounces`: delivery status notifications piped in by the mail system
  (`lookout-relay mail bounce`): a bounce reported after the server accepted the email.
"""
