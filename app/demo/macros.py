"""Demo macros, one or two per area, written by this project for the demo."""

from __future__ import annotations

DEMO_MACROS: tuple[tuple[str, str, str], ...] = (
    (
        "payments",
        "Card declined: what to check",
        "Hello {customer_first_name},\n\nA decline usually comes from the card issuer. Please check the decline code "
        "on the payment in your dashboard; if it says do_not_honor, ask your customer to call their bank.\n\n"
        "Best regards,\n{agent_name}",
    ),
    (
        "refunds_disputes",
        "Refund timing",
        "Hello {customer_first_name},\n\nRefunds reach the cardholder within 5 to 10 business days of the refund "
        "being issued. The refund on {ticket_reference} has left our side.\n\nBest regards,\n{agent_name}",
    ),
    (
        "refunds_disputes",
        "Dispute evidence checklist",
        "Hello {customer_first_name},\n\nTo answer the chargeback, upload the receipt, proof of delivery and your "
        "correspondence with the buyer before the deadline shown on the dispute.\n\nBest regards,\n{agent_name}",
    ),
    (
        "payouts",
        "Payout on its way",
        "Hello {customer_first_name},\n\nYour payout has left our bank; it usually arrives within two business "
        "days. If it has not by then, reply here with your bank statement.\n\nBest regards,\n{agent_name}",
    ),
    (
        "billing",
        "Invoice copy",
        "Hello {customer_first_name},\n\nYou can download every invoice, with VAT, under Settings > Billing. "
        "I have also attached this month's to {ticket_reference}.\n\nBest regards,\n{agent_name}",
    ),
    (
        "account_access",
        "Two-factor reset",
        "Hello {customer_first_name},\n\nFor your security we reset two-factor authentication only after a "
        "verified request from the account owner. Please reply from the owner's address.\n\nBest regards,\n"
        "{agent_name}",
    ),
    (
        "identity_verification",
        "Documents we need",
        "Hello {customer_first_name},\n\nTo finish verification we need a company registration extract and an ID "
        "of a director, uploaded in the dashboard under Verification.\n\nBest regards,\n{agent_name}",
    ),
    (
        "integrations",
        "Webhook signature failing",
        "Hello {customer_first_name},\n\nSignature errors on webhooks almost always mean the endpoint secret is "
        "from another environment. Copy the secret of this endpoint again and verify the raw body.\n\n"
        "Best regards,\n{agent_name}",
    ),
    (
        "fraud",
        "Suspicious payments blocked",
        "Hello {customer_first_name},\n\nOur risk checks blocked these payments as likely card testing. Turn on "
        "the velocity rule in Radar settings and we can review the blocked ones with you.\n\nBest regards,\n"
        "{agent_name}",
    ),
)
