"""Delivery status notifications (RFC 3464) as real mail servers write them, by hand.

`postfix` is shaped like Postfix's bounce(8) notice (headers only, `text/rfc822-headers`),
`exim` like Exim 4's (the whole message back as `message/rfc822`). Both take the original
email's bytes (or just its headers) so a test can return exactly what the relay sent.
"""

from __future__ import annotations


def postfix(
    original_headers: bytes,
    recipient: str = "gone@example.org",
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected: "
    "User unknown in virtual mailbox table",
) -> bytes:
    head = original_headers.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    subject = (
        "Delayed Mail (still being retried)"
        if action == "delayed"
        else "Undelivered Mail Returned to Sender"
    )
    return (
        (
            "Return-Path: <>\n"
            "Received: by mx.example.org (Postfix)\n"
            "\tid 4dQm1X3vZrz9sWd; Tue,  1 Dec 2026 18:19:22 +0000 (UTC)\n"
            "Date: Tue,  1 Dec 2026 18:19:22 +0000 (UTC)\n"
            "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
            f"Subject: {subject}\n"
            "To: alerts@lookout.test\n"
            "Auto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status;\n"
            '\tboundary="4dQm1X3vZrz9sWd.1764613162/mx.example.org"\n'
            "Content-Transfer-Encoding: 8bit\n"
            "Message-Id: <4dQm1X3vZrz9sWd@mx.example.org>\n"
            "\n"
            "This is a MIME-encapsulated message.\n"
            "\n"
            "--4dQm1X3vZrz9sWd.1764613162/mx.example.org\n"
            "Content-Description: Notification\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "\n"
            "This is the mail system at host mx.example.org.\n"
            "\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n"
            "\n"
            f"<{recipient}>: host mailstore.example.org[192.0.2.7] said: 550\n"
            "    5.1.1 User unknown (in reply to RCPT TO command)\n"
            "\n"
            "--4dQm1X3vZrz9sWd.1764613162/mx.example.org\n"
            "Content-Description: Delivery report\n"
            "Content-Type: message/delivery-status\n"
            "\n"
            "Reporting-MTA: dns; mx.example.org\n"
            "X-Postfix-Queue-ID: 4dQm1X3vZrz9sWd\n"
            "X-Postfix-Sender: rfc822; alerts@lookout.test\n"
            "Arrival-Date: Tue,  1 Dec 2026 18:19:20 +0000 (UTC)\n"
            "\n"
            f"Final-Recipient: rfc822; {recipient}\n"
            f"Original-Recipient: rfc822;{recipient}\n"
            f"Action: {action}\n"
            f"Status: {status}\n"
            "Remote-MTA: dns; mailstore.example.org\n"
            f"Diagnostic-Code: {diagnostic}\n"
            "\n"
            "--4dQm1X3vZrz9sWd.1764613162/mx.example.org\n"
            "Content-Description: Undelivered Message Headers\n"
            "Content-Type: text/rfc822-headers\n"
            "Content-Transfer-Encoding: 8bit\n"
            "\n"
        ).encode()
        + head.replace(b"\r\n", b"\n")
        + b"\n\n--4dQm1X3vZrz9sWd.1764613162/mx.example.org--\n"
    )


def exim(original: bytes, recipient: str = "gone@example.net", status: str = "5.0.0") -> bytes:
    boundary = "1764613201-eximdsn-1804289383"
    return (
        (
            "Return-path: <>\n"
            "Envelope-to: alerts@lookout.test\n"
            "Received: from Debian-exim by mail.example.net with local (Exim 4.96)\n"
            "\tid 1vXyZa-000abc-2Q\n"
            "\tfor alerts@lookout.test; Tue, 01 Dec 2026 18:20:01 +0000\n"
            f"X-Failed-Recipients: {recipient}\n"
            "Auto-Submitted: auto-replied\n"
            "From: Mail Delivery System <Mailer-Daemon@mail.example.net>\n"
            "To: alerts@lookout.test\n"
            "References: <ignored@example.net>\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary={boundary}\n"
            "MIME-Version: 1.0\n"
            "Subject: Mail delivery failed: returning message to sender\n"
            "Message-Id: <E1vXyZa-000abc-2Q@mail.example.net>\n"
            "Date: Tue, 01 Dec 2026 18:20:01 +0000\n"
            "\n"
            f"--{boundary}\n"
            "Content-type: text/plain; charset=us-ascii\n"
            "\n"
            "This message was created automatically by mail delivery software.\n"
            "\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n"
            "\n"
            f"  {recipient}\n"
            "    host mx.example.net [192.0.2.25]\n"
            f"    SMTP error from remote mail server after RCPT TO:<{recipient}>:\n"
            "    550 5.1.1 User unknown\n"
            "\n"
            f"--{boundary}\n"
            "Content-type: message/delivery-status\n"
            "\n"
            "Reporting-MTA: dns; mail.example.net\n"
            "\n"
            "Action: failed\n"
            f"Final-Recipient: rfc822;{recipient}\n"
            f"Status: {status}\n"
            "Remote-MTA: dns; mx.example.net\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n"
            "\n"
            f"--{boundary}\n"
            "Content-type: message/rfc822\n"
            "\n"
        ).encode()
        + original.replace(b"\r\n", b"\n").rstrip(b"\n")
        + f"\n\n--{boundary}--\n".encode()
    )


def auto_reply(in_reply_to: str) -> bytes:
    """An out-of-office reply: names our Message-ID, but is no delivery report."""
    return (
        "From: Resident <resident@example.org>\n"
        "To: alerts@lookout.test\n"
        "Subject: Automatic reply: Burglary on Fishergate\n"
        "Auto-Submitted: auto-replied\n"
        "X-Autoreply: yes\n"
        f"In-Reply-To: {in_reply_to}\n"
        f"References: {in_reply_to}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "I am away until Monday with no access to email.\n"
    ).encode()
