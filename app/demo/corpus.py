"""Synthetic support email for a payments platform whose customers are merchants.

Everything here is deterministic: every function takes a seed and draws from its own
``random.Random``; nothing reads files or global state. All wording (templates, phrase banks, names,
companies) is written for this module. Sender domains use the reserved ``.example`` TLD (RFC 2606) and
IP addresses come from the documentation ranges (RFC 5737), so demo mail can never reach a real party.

Three users:

* :func:`labelled_examples` — the labelled training/demo set for the classifier
  (:func:`as_rows` / :func:`write_labelled_csv` export it).
* :func:`demo_mailbox` — the sample mail ``routedesk demo`` loads into its local IMAP server.
* :func:`generate_emails` — a stream of raw RFC 5322 messages for the ingest benchmark.
"""

from __future__ import annotations

import base64
import binascii
import csv
import html
import math
import random
import re
import textwrap
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, formataddr
from os import PathLike
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "AREAS",
    "SupportEmail",
    "as_rows",
    "demo_mailbox",
    "generate_emails",
    "labelled_examples",
    "write_labelled_csv",
]

AREAS: tuple[str, ...] = (
    "payments",
    "refunds_disputes",
    "payouts",
    "billing",
    "account_access",
    "identity_verification",
    "integrations",
    "fraud",
)

# Relative volume per area: roughly balanced, deliberately not uniform.
_AREA_WEIGHTS: dict[str, float] = {
    "payments": 1.25,
    "refunds_disputes": 1.15,
    "payouts": 1.05,
    "billing": 0.9,
    "account_access": 1.0,
    "identity_verification": 0.85,
    "integrations": 1.0,
    "fraud": 0.8,
}

# Traits a labelled example can carry (see SupportEmail.traits).
TRAITS: tuple[str, ...] = (
    "ambiguous",
    "typos",
    "lowercase",
    "signature",
    "quoted",
    "german",
    "french",
)


@dataclass(frozen=True, slots=True)
class SupportEmail:
    """One labelled support email: what a merchant wrote and the area it belongs to.

    ``secondary_label`` is set on the deliberately ambiguous examples (the other area they touch);
    ``traits`` names the variations applied (a subset of :data:`TRAITS`).
    """

    label: str
    subject: str
    body: str
    from_name: str
    from_address: str
    company: str
    secondary_label: str | None = None
    traits: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}"


# --------------------------------------------------------------------------------------------------
# Phrase banks. Slots in braces are filled per email (see _SLOT_MAKERS); one email uses one value per
# slot name, so the order id in the subject is the order id in the body.
# --------------------------------------------------------------------------------------------------


def _p(text: str, *subjects: str) -> tuple[str, tuple[str, ...]]:
    """A problem statement with the subjects a merchant might give it."""
    return text, subjects


@dataclass(frozen=True, slots=True)
class _Bank:
    subjects: tuple[str, ...]  # area-level subjects, matching any problem of the area
    problems: tuple[tuple[str, tuple[str, ...]], ...]
    details: tuple[str, ...]
    asks: tuple[str, ...]
    followups: tuple[str, ...]
    subjects_de: tuple[str, ...] = ()
    subjects_fr: tuple[str, ...] = ()


_BANKS: dict[str, _Bank] = {
    "payments": _Bank(
        subjects=(
            "Payments declined",
            "Problem with payments",
            "Checkout problem",
            "Customers can't pay",
            "Payment issue",
            "card payments not working",
        ),
        problems=(
            _p(
                "Since {date} a lot of our card payments are being declined with {decline}. Normally we "
                "see one or two a day, today it's {n} out of roughly {n2} attempts.",
                "Card payments failing since {date}",
                "{decline} on lots of transactions",
                "High decline rate today",
            ),
            _p(
                "A customer tried to pay {amount} for order {order} with a {brand} card ending in "
                "{last4} and it was declined three times in a row. She says her bank doesn't see any "
                "attempt at all.",
                "Declined payment for order {order}",
                "Customer's card keeps getting declined",
                "Payment declined - order {order}",
            ),
            _p(
                "Our customers keep getting stuck on the 3D Secure step. The bank window opens, they "
                "approve the payment in their banking app, and then our checkout just says the payment "
                "failed (transaction {txn}).",
                "3D Secure failing",
                "3DS problem at checkout",
                "Payments fail after 3D Secure",
            ),
            _p(
                "We'd like to start accepting {method} in our shop. Is it available for merchants in "
                "{merchant_country} and do we have to do anything to switch it on?",
                "Question about accepting {method}",
                "How to enable {method}?",
                "Adding {method} to our checkout",
            ),
            _p(
                'Checkout shows "Something went wrong, please try again" to some of our customers. The '
                "dashboard lists those attempts as failed with reason {decline}, but the same cards work "
                "elsewhere.",
                "Checkout error - urgent",
                "Customers can't pay at checkout",
                "Error at checkout",
            ),
            _p(
                "A customer was charged {amount} but the payment shows as failed in the dashboard, so we "
                "never shipped order {order}. Her bank statement shows the amount as pending.",
                "payment failed but customer was charged?",
                "Failed payment still pending on customer's card",
                "Order {order} - charged but failed",
            ),
            _p(
                "All {brand} payments have been failing since this morning while other cards still go through.",
                "{brand} payments failing",
                "All {brand} cards declined today",
                "Problem with {brand} cards",
            ),
            _p(
                "{method} has disappeared from our checkout page. It was there last week and we didn't "
                "change anything on our side.",
                "{method} missing from checkout",
                "{method} not showing any more",
                "Payment method disappeared",
            ),
            _p(
                "Why was this payment declined? Transaction {txn}, {amount}, card ending {last4}. The "
                "customer says he has plenty of money on the card and it works everywhere else.",
                "Why was this payment declined?",
                "Declined transaction {txn}",
                "Payments declined",
            ),
            _p(
                "The recurring payments for our subscription customers failed on {date} with "
                "authentication_required. Around {n} customers are affected and we don't know how to get "
                "them to authenticate again.",
                "Recurring payments failed",
                "Subscription renewals failing",
                "authentication_required on renewals",
            ),
            _p(
                "Customers paying with cards issued outside the EU are declined far more often than "
                "everyone else. Is there a setting for international cards that we're missing?",
                "International cards declined",
                "High decline rate for non-EU cards",
                "Foreign cards not working",
            ),
            _p(
                "Mobile customers can't complete payment: the {method} sheet opens, they confirm with "
                "Face ID, and then nothing happens. On desktop it works.",
                "{method} not working on mobile",
                "Mobile checkout broken",
                "Payments failing on phones",
            ),
            _p(
                "We see a lot of payments stuck in 'requires action' for order {order} and others from "
                "{date}. The customers say they never got a 3DS prompt.",
                "Payments stuck in requires action",
                "No 3DS prompt for customers",
                "Incomplete payments since {date}",
            ),
        ),
        details=(
            "It happens on desktop and on mobile.",
            "We haven't changed anything on our side.",
            "The customer tried a second card and that failed too.",
            "We're losing sales every hour this goes on.",
            "I've attached a screenshot of the error the customer sees.",
            "Our average basket is around {amount}, nothing unusual.",
            "Most of the failed ones are {brand} cards.",
            "It started right after the weekend.",
            "This is the third customer this week who has complained about it.",
            "The customer's bank told her the decline did not come from them.",
            "The decline code in the dashboard is {decline}.",
        ),
        asks=(
            "Can you tell us why these are being declined?",
            "Could you check what's going on?",
            "Please let us know what the customer needs to do.",
            "Is there an outage on your side?",
            "What can we do to fix this?",
            "Can you look up the transaction and tell us the real decline reason?",
        ),
        followups=(
            "Still getting declines today, {n} more since I last wrote.",
            "The customer tried again this morning with card ending {last4}, same result.",
        ),
        subjects_de=("Zahlungen werden abgelehnt", "Kartenzahlung schlägt fehl"),
        subjects_fr=("Paiements refusés", "Problème de paiement par carte"),
    ),
    "refunds_disputes": _Bank(
        subjects=(
            "Refund question",
            "Chargeback",
            "Dispute",
            "Refund problem",
            "Question about a dispute",
        ),
        problems=(
            _p(
                "We refunded {amount} to a customer on {date} (order {order}) but she says nothing has "
                "arrived on her card ending in {last4}. Your dashboard says the refund succeeded.",
                "Refund not received by customer",
                "Customer says the refund never arrived",
                "Refund for order {order} missing",
            ),
            _p(
                "We just got a chargeback for {amount} on order {order}. The customer received the "
                "goods, we have the tracking number and her signature. How do we submit evidence?",
                "Chargeback on order {order}",
                "We received a chargeback notification",
                "How to fight a chargeback",
            ),
            _p(
                "I submitted evidence for dispute {dispute_id} on {date} but the status still says "
                "'needs response'. Did you receive our documents?",
                "Dispute {dispute_id} - was our evidence submitted?",
                "Dispute evidence not received?",
                "Dispute status not updating",
            ),
            _p(
                "The refund for transaction {txn} failed with the message 'charge too old to refund'. "
                "The customer still wants the money back, what are our options?",
                "Refund failed",
                "Can't refund old payment",
                "'charge too old to refund'",
            ),
            _p(
                "We lost dispute {dispute_id} even though we uploaded the delivery confirmation and the "
                "customer's own email saying the parcel arrived. Can we appeal?",
                "Lost a dispute we should have won",
                "Appeal dispute {dispute_id}",
                "Dispute lost despite proof of delivery",
            ),
            _p(
                "I accidentally refunded order {order} twice, once in full ({amount}) and then again. "
                "Can the second refund be cancelled?",
                "Refund issued twice??",
                "Cancel a duplicate refund",
                "Refunded order {order} twice by mistake",
            ),
            _p(
                "How do I make a partial refund? A customer sent back one item out of three and we only "
                "want to give back {amount}.",
                "Partial refund question",
                "How do I refund a payment?",
                "Refund only part of an order",
            ),
            _p(
                "A customer opened a dispute saying he doesn't recognise the payment of {amount}, but "
                "he's a regular and has ordered from us {n} times.",
                "Dispute from a regular customer",
                "Customer disputes payment he made",
                "Chargeback on order {order}",
            ),
            _p(
                "We have {n_small} open chargebacks this month, all with the reason 'product not "
                "received'. The deadline for the first one is {date}.",
                "Chargeback deadline {date}",
                "Several chargebacks - product not received",
                "Help with open disputes",
            ),
            _p(
                "The customer cancelled her subscription and we refunded the last charge, but she filed "
                "a chargeback anyway, so now we've paid the money back twice.",
                "Chargeback after refund",
                "Refunded AND charged back",
                "Customer got her money twice",
            ),
            _p(
                "Refunds to {method} don't seem to work. The refund for order {order} has been pending "
                "for {days} days.",
                "Refund pending for {days} days",
                "{method} refund stuck",
                "Refund not going through",
            ),
            _p(
                "The bank reversed payment {txn} ({amount}) as a chargeback, but we had already refunded "
                "it on {date}. The refund reference is {refund_id}.",
                "Chargeback on an already refunded payment",
                "Double refund via chargeback",
                "Dispute on refunded payment {txn}",
            ),
        ),
        details=(
            "The customer is getting quite angry and threatening to leave bad reviews.",
            "We have the tracking number and proof of delivery.",
            "I can send the customer's emails as evidence if that helps.",
            "This is the second time this has happened with the same customer.",
            "The refund reference in the dashboard is {refund_id}.",
            "Our balance was already debited for it.",
            "The response deadline is in {days} days.",
            "The order was shipped to the billing address on {date}.",
        ),
        asks=(
            "Can you please check where the refund is?",
            "What evidence do you need from us?",
            "Can you help us win this one?",
            "Please tell us how to proceed.",
            "How long do refunds normally take to show up?",
            "Is there a way to reverse this?",
        ),
        followups=(
            "The customer has contacted us again, she still hasn't got the money.",
            "The dispute deadline is getting close, it's {date}.",
        ),
        subjects_de=("Rückerstattung nicht angekommen", "Rückbuchung zu Bestellung {order}"),
        subjects_fr=("Remboursement non reçu", "Litige sur la commande {order}"),
    ),
    "payouts": _Bank(
        subjects=(
            "Payout missing",
            "Where is our payout?",
            "Payout question",
            "Payout problem",
            "payouts",
        ),
        problems=(
            _p(
                "Our payout for {date} hasn't arrived in our bank account. The dashboard says it was "
                "paid ({payout_id}, {amount_big}) but our bank, {bank}, has nothing.",
                "Payout {payout_id} not received",
                "Payout missing",
                "Where is our payout?",
            ),
            _p(
                "We haven't received a payout since {date}. The balance keeps growing and we need that "
                "money to pay our suppliers.",
                "No payouts since {date}",
                "Payouts stopped",
                "Where is our money?",
            ),
            _p(
                "The payout we got yesterday was {amount_big}, but according to our sales report it "
                "should be about {amount_big2}. Where does the difference come from?",
                "Payout lower than expected",
                "Payout amount doesn't match sales",
                "Short payout",
            ),
            _p(
                "We've changed banks and need to update the account our payouts go to. The new IBAN ends "
                "in {iban_tail}. What's the process?",
                "Changing our bank account",
                "Bank account change for payouts",
                "New IBAN for payouts",
            ),
            _p(
                "Payout {payout_id} shows as failed with 'account closed'. We updated the bank details "
                "yesterday. Will it be retried automatically?",
                "Payout failed",
                "Payout {payout_id} failed - account closed",
                "Failed payout retry?",
            ),
            _p(
                "Is it possible to switch from weekly to daily payouts? Our cash flow is tight at the moment.",
                "Can we get daily payouts?",
                "Payout schedule question",
                "Change payout frequency",
            ),
            _p(
                "Why are our payouts {days} days behind now? We used to get paid two business days after the sale.",
                "payout delayed again",
                "Payouts taking longer",
                "Payout delay",
            ),
            _p(
                "This week's payout was split into {n_small} smaller transfers and I can't match them to our orders.",
                "Payout split into several transfers",
                "Can't reconcile payouts",
                "Payout reconciliation",
            ),
            _p(
                "Our payout arrived in {currency2} instead of {currency}, and the bank charged us for the conversion.",
                "Payout in wrong currency",
                "Payout currency {currency2}?",
                "Payout currency question",
            ),
            _p(
                "Our balance shows {amount_big} available but there is no next payout date. Did "
                "something change with our payout schedule?",
                "No payout scheduled",
                "Payout schedule question",
                "Balance not being paid out",
            ),
            _p(
                "The payout of {amount_big} that was due on {date} is still 'in transit'. Normally it "
                "lands the next morning.",
                "Payout still in transit",
                "payout delayed again",
                "Where is our payout?",
            ),
        ),
        details=(
            "Our accountant needs this reconciled by the end of the month.",
            "The bank says there's no incoming transfer pending.",
            "We're a small business and this is a real cash flow problem.",
            "The account holder name at the bank is exactly our company name.",
            "We got the email saying the payout was on its way on {date}.",
            "I've attached our latest bank statement.",
            "Our account at {bank} ends in {iban_tail}.",
        ),
        asks=(
            "When will the money arrive?",
            "Can you give us a trace ID or bank reference we can pass on to our bank?",
            "Please confirm that the new account is set up correctly.",
            "Can you explain the difference?",
            "Please look into this as soon as possible.",
        ),
        followups=(
            "Still nothing in our account as of this morning.",
            "Our bank confirmed again that nothing came in for {payout_id}.",
        ),
        subjects_de=("Auszahlung fehlt", "Auszahlung nicht erhalten – dringend"),  # noqa: RUF001
        subjects_fr=("Virement non reçu", "Versement en retard"),
    ),
    "billing": _Bank(
        subjects=(
            "Question about our invoice",
            "Invoice question",
            "Fees",
            "Billing question",
            "Our subscription",
        ),
        problems=(
            _p(
                "Our invoice {invoice} for {month} shows fees of {amount}, which is much more than "
                "usual. Our volume didn't change, so I don't understand why.",
                "Question about our invoice",
                "Invoice {invoice} much higher than usual",
                "Fees on {month} invoice",
            ),
            _p(
                "We agreed on {fee} per transaction when we signed up, but the invoice charges {fee2}. "
                "Please correct this.",
                "Fees higher than agreed",
                "Wrong transaction fee",
                "Pricing not as agreed",
            ),
            _p(
                "Our VAT number {vat_id} is missing from the invoices, so our accountant can't reclaim "
                "the VAT. Can you reissue them?",
                "VAT number missing on invoice",
                "Please reissue invoices with VAT ID",
                "Invoice VAT details",
            ),
            _p(
                "We were charged the monthly {plan} plan fee twice this month, on {date} and again on {date2}.",
                "Double charged for the monthly fee",
                "Charged twice for {plan} plan",
                "Duplicate subscription charge",
            ),
            _p(
                "We'd like to move from the {plan} plan to {plan2}. Does the change apply immediately or "
                "from the next billing period?",
                "Change of plan",
                "Switch to {plan2} plan",
                "Plan change question",
            ),
            _p(
                "Where can I download all of last year's invoices? Our accountant needs them for the annual accounts.",
                "Need our invoices for last year",
                "Download invoices",
                "Invoices for our accountant",
            ),
            _p(
                "What is the '{fee_item}' line on this month's invoice? We never had it before.",
                "What is the {fee_item}?",
                "Why were we charged {amount_small}?",
                "New fee on invoice",
            ),
            _p(
                "You charged VAT on invoice {invoice} although we're a business in {merchant_country} "
                "and the reverse charge should apply.",
                "Invoice {invoice} - wrong VAT",
                "VAT charged incorrectly",
                "Reverse charge missing",
            ),
            _p(
                "Can the invoices be addressed to our new company name and address? We moved and changed "
                "the legal form.",
                "Invoice address change",
                "New company name on invoices",
                "Update billing details",
            ),
            _p(
                "Your pricing page says {fee} for European cards, but we seem to pay the international "
                "rate on almost everything.",
                "Pricing question",
                "Charged international rate for EU cards",
                "Fees higher than agreed",
            ),
            _p(
                "Please cancel our {plan} subscription at the end of the month. We're closing the online shop.",
                "Cancel our subscription",
                "Cancel {plan} plan",
                "Ending our contract",
            ),
        ),
        details=(
            "Our accountant flagged this during the monthly close.",
            "The invoice total is {amount} including VAT.",
            "We're a small shop, these fees make a real difference for us.",
            "I've attached the invoice in question.",
            "We've been customers for {years} years.",
            "Our VAT ID is {vat_id}.",
        ),
        asks=(
            "Can you send a corrected invoice?",
            "Please explain how this amount was calculated.",
            "Can you refund the difference?",
            "Please confirm the change.",
            "Who can I talk to about our pricing?",
        ),
        followups=(
            "Our accountant is asking again for the corrected invoice.",
            "We still see the {fee_item} line on the new invoice.",
        ),
        subjects_de=("Frage zur Rechnung {invoice}", "Gebühren zu hoch"),
        subjects_fr=("Question sur la facture {invoice}", "Frais trop élevés"),
    ),
    "account_access": _Bank(
        subjects=(
            "Can't log in",
            "Login problem",
            "Account access",
            "Locked out of our account",
            "2FA problem",
        ),
        problems=(
            _p(
                "I can't log in to the dashboard. I enter my password, get the SMS code, type it in and "
                "it says the code is invalid. I've tried {n_small} times now.",
                "Can't log in",
                "SMS code invalid",
                "Login not possible",
            ),
            _p(
                "The SMS codes for two-factor authentication don't arrive. My phone number hasn't "
                "changed and I get other texts fine.",
                "Not receiving the SMS code",
                "2FA code not arriving",
                "No SMS code",
            ),
            _p(
                "I lost my phone with the authenticator app on it and can't get into our account any "
                "more. I don't have the backup codes.",
                "Lost my 2FA phone",
                "Locked out - lost authenticator",
                "Reset two-factor authentication",
            ),
            _p(
                "I requested a password reset three times but the email never arrives. It's not in spam "
                "either. My login is {email_self}.",
                "Password reset email never arrives",
                "Can't reset password",
                "No password reset email",
            ),
            _p(
                "Our account owner {colleague} has left the company and we need to transfer ownership to "
                "me. How do we do that?",
                "Change the account owner",
                "Transfer account ownership",
                "Account owner left the company",
            ),
            _p(
                "How do I add our new accountant as a team member who can see reports but not payouts or refunds?",
                "Add a team member",
                "User roles question",
                "Access for our accountant",
            ),
            _p(
                "Please remove {colleague} ({email_colleague}) from our account, they no longer work for "
                "us. I can't find the option myself.",
                "Remove a former employee's access",
                "Remove user {colleague}",
                "Delete team member",
            ),
            _p(
                "When I log in it just takes me back to the login page, in Chrome and in Firefox. My "
                "colleague can log in fine.",
                "Login loop",
                "Can't log in",
                "Stuck on login page",
            ),
            _p(
                "I invited {colleague} as {role} but the invitation link says it has expired. I only "
                "sent it yesterday.",
                "invitation link expired",
                "Team invitation not working",
                "Invite for {colleague} expired",
            ),
            _p(
                "My account got locked after too many attempts. How long do I have to wait, or can you unlock it?",
                "Locked out of our account",
                "Account locked",
                "Please unlock my login",
            ),
            _p(
                "I'm {role} on our account but I can't see the payouts page any more. Did my permissions change?",
                "Permissions changed?",
                "Need admin rights",
                "Can't see payouts page",
            ),
            _p(
                "We got a new phone number for the office and I need to move the two-factor codes to it, "
                "but the settings page asks for a code sent to the old number.",
                "Change 2FA phone number",
                "New phone number for 2FA",
                "Update two-factor phone",
            ),
        ),
        details=(
            "I'm travelling abroad this week, could that be the problem?",
            "I need to get in urgently to download a report for our bank.",
            "I already cleared my cookies and tried another browser.",
            "The phone number on the account ends in {last4}.",
            "The error message just says 'Something went wrong'.",
            "I'm the only admin on the account.",
        ),
        asks=(
            "Can you reset my 2FA?",
            "Please help me get back in.",
            "What do you need from me to prove that I'm the owner?",
            "How do I do this?",
            "Can you unlock the account?",
        ),
        followups=(
            "Still locked out, tried again just now.",
            "I still haven't received any code.",
        ),
        subjects_de=("Kann mich nicht einloggen", "Zwei-Faktor-Code kommt nicht an"),
        subjects_fr=("Impossible de me connecter", "Code SMS non reçu"),
    ),
    "identity_verification": _Bank(
        subjects=(
            "Verification documents",
            "Account verification",
            "Restricted account",
            "KYC",
            "Verification question",
        ),
        problems=(
            _p(
                "We uploaded our {doc} on {date} for verification but the dashboard still says 'pending "
                "review'. How long does this usually take?",
                "Verification documents",
                "Business verification taking forever",
                "Verification pending since {date}",
            ),
            _p(
                "Our account was restricted today with a message that we need to verify our business. We "
                "already sent everything when we signed up.",
                "Account restricted - verification",
                "Restricted account",
                "Why is my account under review?",
            ),
            _p(
                "My {doc} was rejected as 'not readable' but I uploaded a high resolution scan. I don't "
                "understand what's wrong with it.",
                "Document rejected",
                "{doc} rejected",
                "Verification document not accepted",
            ),
            _p(
                "You're asking for the {doc} of every shareholder with more than 25%. One of our "
                "shareholders is a holding company, what do you need in that case?",
                "KYC request - what do you need?",
                "Shareholder verification",
                "Verification of holding company",
            ),
            _p(
                "We have a new managing director and got an email asking us to verify her identity. Can "
                "she do that without having a login?",
                "Verification for new director",
                "New director ID check",
                "Verify new managing director",
            ),
            _p(
                "The upload page keeps failing when I try to submit my {doc}, it just spins and then "
                "says 'upload failed'.",
                "Upload not working for ID",
                "Can't upload {doc}",
                "Verification upload fails",
            ),
            _p(
                "We received a request to re-verify our business details within {days} days or our "
                "account will be restricted. Is this email genuine?",
                "Re-verification request - genuine?",
                "Please verify our account",
                "KYC request - what do you need?",
            ),
            _p(
                "Why are you asking for a {doc}? We're a sole trader and don't have one.",
                "We don't have a {doc}",
                "KYC request - what do you need?",
                "Verification as sole trader",
            ),
            _p(
                "Our company address changed and the verification asks for proof of the new address. "
                "Will a {doc} from last month be OK?",
                "Proof of address for verification",
                "Verification documents",
                "New address verification",
            ),
            _p(
                "We can't take payments at the moment because the account is restricted pending "
                "verification. This is costing us sales.",
                "Restricted account",
                "Account restricted - verification",
                "Please verify our account urgently",
            ),
            _p(
                "The identity check keeps failing because the name on my ID has an accent and the form "
                "doesn't accept it.",
                "ID check fails",
                "Identity verification failing",
                "Name on ID not accepted",
            ),
        ),
        details=(
            "Our company registration number is {reg_no}.",
            "I can send the documents by email if that's easier.",
            "We're registered in {merchant_country}.",
            "We're a {business_type}.",
            "I've attached the document again.",
        ),
        asks=(
            "Please tell us exactly what's missing.",
            "Can you speed up the review?",
            "Which documents do you accept instead?",
            "When will the restriction be lifted?",
        ),
        followups=(
            "I uploaded the {doc} again this morning, still pending.",
            "Any news on the review? We're still restricted.",
        ),
        subjects_de=("Verifizierung – Unterlagen", "Konto eingeschränkt"),  # noqa: RUF001
        subjects_fr=("Vérification du compte – documents", "Compte restreint"),  # noqa: RUF001
    ),
    "integrations": _Bank(
        subjects=(
            "API problem",
            "Integration question",
            "Webhooks",
            "Plugin problem",
            "Developer question",
            "API error",
        ),
        problems=(
            _p(
                "Since {date} our webhook endpoint hasn't received any {event} events. The dashboard "
                "shows the deliveries as failed with a timeout, but our server is up and answers in "
                "under 200 ms.",
                "Webhooks not arriving",
                "{event} webhooks failing",
                "Webhook timeouts",
            ),
            _p(
                "After updating the {plugin} plugin to {version} the checkout page shows an empty "
                "payment section. Rolling back fixes it.",
                "Plugin update broke checkout",
                "{plugin} plugin {version} bug",
                "{plugin} plugin error",
            ),
            _p(
                "We're getting {api_error} when creating payments through the API, but only from our "
                "production servers.",
                "API error on production",
                "API returns {http_status}",
                "Can't create payments via API",
            ),
            _p(
                "Our webhook signature check fails for every event. We use the signing secret from the "
                "dashboard and the helper from the {sdk}.",
                "Webhook signature verification fails",
                "Invalid webhook signature",
                "{sdk} webhook question",
            ),
            _p(
                "We retried a request with the same idempotency key after a timeout and got an error "
                "saying the key was already used with different parameters, but the parameters were "
                "identical.",
                "Idempotency key error",
                "idempotency_key_in_use on retry",
                "Retry with idempotency key fails",
            ),
            _p(
                "We're hitting the rate limit (429) during our nightly sync. How many requests per "
                "second are allowed and can the limit be raised?",
                "Rate limited by the API",
                "429 Too Many Requests",
                "API rate limit",
            ),
            _p(
                "I accidentally pushed our secret API key to a public repository. How do I roll the key "
                "without breaking our live shop?",
                "Question about API keys",
                "Need to roll our API key",
                "Secret key exposed",
            ),
            _p(
                "The {sdk} {version} throws '{err_code}' when we pass the amount in cents. The docs say "
                "amounts are integers in the smallest unit, so what are we doing wrong?",
                "{err_code} when creating payments",
                "{sdk} question",
                "{sdk} {version} error",
            ),
            _p(
                "Which API version should we pin? The changelog mentions a breaking change for "
                "{endpoint} and we're not sure it affects us.",
                "API version question",
                "Breaking change in {endpoint}?",
                "Which API version?",
            ),
            _p(
                "Our {plugin} shop shows orders as 'pending payment' even though the payment succeeded. "
                "It looks like the plugin never gets the notification from you.",
                "{plugin} orders stuck in pending payment",
                "{plugin} plugin error",
                "Plugin not updating order status",
            ),
            _p(
                "POST {endpoint} returns {api_error} for about {pct}% of requests since this morning. "
                "One of the request IDs is {req_id}.",
                "API returns {http_status}",
                "Errors on {endpoint}",
                "Intermittent API errors",
            ),
            _p(
                "Where do I find the test mode API keys? The dashboard only shows the live ones and our "
                "developer wants to test the {plugin} integration first.",
                "Test mode vs live mode keys",
                "Where are the test API keys?",
                "Question about API keys",
            ),
        ),
        details=(
            "Here is the log line: {log_line}",
            "Our setup is {plugin} {version} on PHP {php}.",
            "Everything works fine in test mode.",
            "I've attached the server logs.",
            "Our developer is a freelancer so we can't easily debug this ourselves.",
            "Request ID: {req_id}.",
        ),
        asks=(
            "Can you check your logs for our account?",
            "Is this a known issue?",
            "What are we doing wrong?",
            "Can you point us to the right documentation?",
        ),
        followups=(
            "Still failing, another example: {req_id}.",
            "We tried the {sdk} {version} as well, same error.",
        ),
        subjects_de=("Webhook-Fehler", "Problem mit dem {plugin}-Plugin"),
        subjects_fr=("Erreur avec le module {plugin}", "Webhooks non reçus"),
    ),
    "fraud": _Bank(
        subjects=(
            "Suspicious transactions",
            "Fraud",
            "Possible fraud",
            "Fraudulent orders",
            "Security concern",
        ),
        problems=(
            _p(
                "Overnight we got {n} payments of {amount_small} each from different cards, all within a "
                "few minutes. It looks like someone is testing stolen cards through our donation form.",
                "Lots of small payments - card testing?",
                "Card testing on our donation form",
                "Suspicious transactions",
            ),
            _p(
                "Someone logged into our dashboard from {city} last night and changed the payout bank "
                "account. None of us did that. Please freeze our payouts immediately.",
                "Account takeover? Bank details changed",
                "Someone accessed our account",
                "URGENT: unauthorised login",
            ),
            _p(
                "A payment of {amount} for order {order} was blocked by your risk rules, but it's a "
                "long-time customer. How can we let it through?",
                "Payment blocked by risk check",
                "Legitimate customer blocked",
                "Order {order} blocked as fraud",
            ),
            _p(
                "We received {n_small} large orders from new customers with different names but the same "
                "shipping address. All were paid with cards from {country}. Should we ship?",
                "Strange orders from {country}",
                "Fraudulent orders?",
                "Suspicious orders - same address",
            ),
            _p(
                "Your system flagged transaction {txn} as high risk but still let it through. The "
                "cardholder has now told us the card was stolen.",
                "High risk payment went through",
                "Stolen card payment {txn}",
                "Possible fraud on order {order}",
            ),
            _p(
                "About {pct}% of our payments today were blocked as 'high risk'. We're an ordinary "
                "{business_type} and nothing changed on our side.",
                "Too many blocked payments",
                "Legitimate customers blocked",
                "Risk rules blocking sales",
            ),
            _p(
                "We got an email that looked like it came from you asking us to confirm our login "
                "details. I think it was phishing, and my colleague may have clicked the link.",
                "Phishing email in your name",
                "Possible phishing - account compromised?",
                "Suspicious email from you?",
            ),
            _p(
                "One customer placed {n_small} orders in an hour, each with a different card ({last4}, "
                "{last4b}, ...). The first three were declined.",
                "Possible fraud on order {order}",
                "Customer using many different cards",
                "Fraudulent orders",
            ),
            _p(
                "Can we set our own rules, for example block all cards issued outside the EU or orders above {amount}?",
                "Custom risk rules",
                "Blocking foreign cards",
                "Fraud rules question",
            ),
            _p(
                "There were {n_small} refunds issued from our account today that none of us made. "
                "Someone must have our password.",
                "Unauthorised refunds from our account",
                "Someone accessed our account",
                "Account hacked?",
            ),
        ),
        details=(
            "The IP addresses were all from the same range, {ip}.",
            "We've put the affected orders on hold for now.",
            "I changed all our passwords after noticing.",
            "The email addresses look auto-generated.",
            "We haven't shipped anything yet.",
        ),
        asks=(
            "Please block these cards.",
            "Can you refund the card testing charges and stop them?",
            "What should we do now?",
            "Can you review our risk settings?",
            "Please secure our account.",
        ),
        followups=(
            "It's happening again, {n} more attempts in the last hour.",
            "We found {n_small} more orders from the same address.",
        ),
        subjects_de=("Verdächtige Zahlungen", "Betrugsverdacht bei Bestellung {order}"),
        subjects_fr=("Transactions suspectes", "Fraude sur la commande {order}"),
    ),
}

# Deliberately ambiguous examples: (primary label, secondary area, subjects, problem). They are labelled
# with the primary area: what the merchant needs done.
_AMBIGUOUS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "refunds_disputes",
        "billing",
        ("Refund and dispute fee", "Chargeback fee although refunded"),
        "We refunded order {order} ({amount}) in full, but the customer's chargeback went ahead anyway and "
        "you also charged us a {amount_small} dispute fee. We want the chargeback closed as already "
        "refunded, and the fee back.",
    ),
    (
        "billing",
        "refunds_disputes",
        ("Dispute fees on invoice {invoice}", "Fees for disputes we won"),
        "Invoice {invoice} lists {n_small} dispute fees for disputes we actually won. I thought the fee is "
        "returned when a dispute is decided in our favour?",
    ),
    (
        "payouts",
        "identity_verification",
        ("Payout on hold", "Payout held - verification?"),
        "Our payout of {amount_big} has been on hold since {date}. The dashboard mentions additional "
        "verification but I already uploaded our {doc}. When will the money be released?",
    ),
    (
        "identity_verification",
        "payouts",
        ("Payouts paused until verification", "Which document for the new director?"),
        "We got a message that payouts are paused until we verify our new director. Which document exactly "
        "do you need from her, and does a {doc} work?",
    ),
    (
        "fraud",
        "account_access",
        ("New user added to our account - not us", "Strange login codes"),
        "I got an SMS code I didn't request, and a minute later a notification that a new user was added "
        "to our team. Now my own password doesn't work any more.",
    ),
    (
        "account_access",
        "fraud",
        ("Login blocked as suspicious", "Suspicious login warning - it's me"),
        "Every time I log in from our new office I get 'suspicious login attempt blocked'. It really is me. "
        "How do I get in?",
    ),
    (
        "integrations",
        "payments",
        ("Payments failing after plugin update", "{plugin} checkout errors"),
        "Since we updated the {plugin} plugin to {version}, every {method} payment ends with 'payment "
        "failed' on the checkout page, although the customers' banks say the payments were approved.",
    ),
    (
        "payments",
        "integrations",
        ("Declines at checkout - cards or our integration?", "Payments failing with {decline}"),
        "Payments at checkout fail with {decline}. Our developer says the API calls are correct and returns "
        "no errors. Is it the cards or is something wrong with our integration?",
    ),
    (
        "fraud",
        "payments",
        ("Good customers declined by risk rules", "Payments blocked as high risk"),
        "Genuine customers are being declined and the dashboard says 'blocked by risk rules'. Transaction "
        "{txn} for {amount} is from someone who's been buying from us for years.",
    ),
    (
        "payouts",
        "billing",
        ("Payout short by {amount_small}", "Fee deducted from payout?"),
        "This week's payout was short by {amount_small}. I think the monthly fee was taken out of the payout "
        "instead of being invoiced. Is that right, and why did it change?",
    ),
    (
        "refunds_disputes",
        "fraud",
        ("Several fraud chargebacks", "Chargebacks marked as fraudulent"),
        "We've had {n_small} chargebacks this week with reason 'fraudulent', all from orders placed the "
        "same night from different cards. How do we respond to the disputes?",
    ),
    (
        "identity_verification",
        "account_access",
        ("Can't upload verification documents", "Restricted and can't log in"),
        "Our account is restricted until we verify, but when I log in to upload the {doc} I just get a "
        "blank page. How else can I send you the documents?",
    ),
    (
        "integrations",
        "refunds_disputes",
        ("Refund API error", "Refunds via API fail"),
        "Refunds created through the API return {api_error}. Refunds in the dashboard work. We need to "
        "refund order {order} today.",
    ),
    (
        "payments",
        "refunds_disputes",
        ("Customer charged twice", "Double payment for order {order}"),
        "A customer was charged twice for order {order}, {amount} each, although one attempt shows as "
        "failed in the dashboard. Which one actually went through?",
    ),
    (
        "billing",
        "account_access",
        ("Finance can't see invoices", "Invoice access for our accountant"),
        "Our accountant can't find the invoices in the dashboard. She's been added as {role}. Can you send "
        "us the invoices for {month}, and which role does she need?",
    ),
)

_GENERIC_SUBJECTS = ("Help", "Question", "Problem with our account", "Support request", "urgent", "Hello")
_GENERIC_CONTEXT = (
    "Our account ID is {acct}.",
    "We've been using your platform for {years} years and never had this problem.",
    "We sell {product} online, mostly to customers in {merchant_country}.",
    "I'm writing on behalf of {company}.",
    "Sorry if this is the wrong address for this.",
    "This is quite urgent for us.",
    "I already searched the help centre but couldn't find an answer.",
    "I tried calling but couldn't get through.",
)
_GENERIC_ASKS = (
    "Thanks for your help.",
    "Please get back to me as soon as possible.",
    "Looking forward to hearing from you.",
    "Could you have a look?",
    "Any help is appreciated.",
)
_FOLLOWUPS = (
    "Any update on this? It's been {days} days.",
    "Just following up on my email below.",
    "Still not resolved, please help.",
    "I wrote {days} days ago and haven't heard back yet.",
    "Sorry to chase, but this is getting urgent.",
    "Here is some more information on this.",
    "Is anyone looking at this?",
)

_GREETINGS_EN = (
    "Hi,",
    "Hello,",
    "Hi there,",
    "Hello Support,",
    "Dear Support Team,",
    "Hey,",
    "Good morning,",
    "To whom it may concern,",
    "Hi team,",
    "Dear Sir or Madam,",
)
_GREETINGS_DE = ("Hallo,", "Hallo zusammen,", "Guten Tag,", "Sehr geehrte Damen und Herren,", "Moin,")
_GREETINGS_FR = ("Bonjour,", "Bonjour à tous,", "Madame, Monsieur,", "Bonjour l'équipe,")
_SIGNOFFS_EN = (
    "Thanks,",
    "Thank you,",
    "Best regards,",
    "Kind regards,",
    "Regards,",
    "Cheers,",
    "Best,",
    "Thanks in advance,",
    "Many thanks,",
)
_SIGNOFFS_DE = ("Viele Grüße", "Mit freundlichen Grüßen", "Beste Grüße", "VG")
_SIGNOFFS_FR = ("Cordialement,", "Bien cordialement,", "Merci d'avance,", "Bonne journée,")

_AGENT_REPLIES = (
    "Thank you for your patience. I've passed this on to the responsible team and we'll update you as "
    "soon as we hear back from them.",
    "Thanks for the details. I can see the case on our side and I'm checking it with our specialists now.",
    "We've received your request. Our team usually answers within one business day.",
)
# What an agent typically asked earlier, per area (quoted history in follow-ups).
_AGENT_ASKS: dict[str, tuple[str, ...]] = {
    "payments": (
        "Thanks for getting in touch. Could you send us the ID of one of the declined payments and the "
        "approximate time it happened?",
        "The issuing bank declined these payments, so the customer should contact their bank. If it keeps "
        "happening, please send us a few more examples.",
    ),
    "refunds_disputes": (
        "Refunds usually take 5 to 10 business days to appear on the cardholder's statement. If it's been "
        "longer, send us the refund ID and we'll get a reference from the card network.",
        "For the dispute, please upload the proof of delivery and any messages with the customer in the "
        "dashboard before the deadline.",
    ),
    "payouts": (
        "Could you send us a recent bank statement showing the account holder name and the last payouts you received?",
        "I can see the payout left us on time. Banks can take up to 3 business days to credit it; if it "
        "hasn't arrived by then, we'll request a trace.",
    ),
    "billing": (
        "I've asked our billing team to review the invoice. They'll send a corrected version if anything "
        "was charged incorrectly.",
        "You can find all invoices under Settings > Billing. Could you tell us which invoice you mean?",
    ),
    "account_access": (
        "For security we need to confirm it's you. Could you reply from the email address you use to log "
        "in and tell us the last four digits of the phone number on the account?",
        "Only an owner or admin of the account can change team members and roles.",
    ),
    "identity_verification": (
        "Thanks, we've received the documents. Our compliance team reviews them in the order they arrive, "
        "usually within 2 business days.",
        "The document you uploaded is cut off at the edges. Please upload a photo showing all four corners.",
    ),
    "integrations": (
        "Happy to help. Can you tell us which integration you use, the plugin or SDK version, and send a "
        "request ID of a failed call?",
        "Our API status was normal at that time. Could you share the full error response you received?",
    ),
    "fraud": (
        "We've flagged the payments you mentioned for review. Please don't ship any orders from this "
        "customer until you hear from us.",
        "Could you send us the order numbers and the IP addresses you're seeing so our risk team can look into it?",
    ),
}
_AGENTS = ("Maya", "Jonas", "Ines", "Theo", "Farah", "Luca", "Nadia", "Pieter")

# --------------------------------------------------------------------------------------------------
# People and companies
# --------------------------------------------------------------------------------------------------

_FIRST_EN = (
    "Emma", "Oliver", "Sophie", "James", "Amelia", "Jack", "Grace", "Harry", "Olivia", "Thomas",
    "Hannah", "Daniel", "Chloe", "Samuel", "Lucy", "Ryan", "Megan", "Ben", "Laura", "Matt", "Priya",
    "Arjun", "Aisha", "Omar", "Mei", "Kenji", "Sarah", "David", "Rachel", "Michael", "Jessica", "Chris",
)  # fmt: skip
_LAST_EN = (
    "Smith", "Walker", "Hughes", "Patel", "Khan", "Evans", "Clarke", "Turner", "Wright", "Bennett",
    "Murphy", "Kelly", "Brooks", "Foster", "Reid", "Shaw", "Mitchell", "Carter", "Nguyen", "Chen",
    "Okafor", "Mensah", "Harris", "Cooper", "Ward", "Price", "O'Neill",
)  # fmt: skip
_FIRST_DE = (
    "Lukas", "Anna", "Felix", "Lena", "Jonas", "Laura", "Max", "Sophie", "Paul", "Marie", "Tobias",
    "Katrin", "Stefan", "Julia", "Niklas", "Sabine", "Moritz", "Leonie",
)  # fmt: skip
_LAST_DE = (
    "Weber", "Schneider", "Fischer", "Wagner", "Becker", "Hoffmann", "Schulz", "Koch", "Richter", "Wolf",
    "Neumann", "Zimmermann", "Braun", "Krause", "Hartmann", "Lange",
)  # fmt: skip
_FIRST_FR = (
    "Camille", "Louis", "Manon", "Hugo", "Julie", "Thomas", "Claire", "Antoine", "Lucie", "Nicolas",
    "Sarah", "Mathieu", "Pauline", "Julien", "Emma", "Romain",
)  # fmt: skip
_LAST_FR = (
    "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Roux", "Fournier",
    "Girard", "Bonnet", "Mercier", "Lambert", "Fontaine", "Rousseau",
)  # fmt: skip
# (display name, first name as written, ASCII first, ASCII last)
_NON_ASCII_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("Jürgen Müller", "Jürgen", "juergen", "mueller"),
    ("Zoë Dubois", "Zoë", "zoe", "dubois"),
    ("François Lefèvre", "François", "francois", "lefevre"),
    ("Søren Kjær", "Søren", "soren", "kjaer"),
    ("Łukasz Wójcik", "Łukasz", "lukasz", "wojcik"),
    ("José Núñez", "José", "jose", "nunez"),
    ("Ayşe Yılmaz", "Ayşe", "ayse", "yilmaz"),  # noqa: RUF001
    ("Björn Åkesson", "Björn", "bjorn", "akesson"),
    ("Hélène Girard", "Hélène", "helene", "girard"),
    ("Renée Fournier", "Renée", "renee", "fournier"),
    ("Jörg Schäfer", "Jörg", "joerg", "schaefer"),
    ("Chloé Bérard", "Chloé", "chloe", "berard"),
    ("Ingrid Sørensen", "Ingrid", "ingrid", "sorensen"),
    ("Małgorzata Nowak", "Małgorzata", "malgorzata", "nowak"),
    ("Tomáš Dvořák", "Tomáš", "tomas", "dvorak"),
    ("Ana Gonçalves", "Ana", "ana", "goncalves"),
    ("Jérôme Lemaître", "Jérôme", "jerome", "lemaitre"),
    ("Dorothée Schröder", "Dorothée", "dorothee", "schroeder"),
    ("Ömer Çelik", "Ömer", "omer", "celik"),
    ("Νικόλαος Παπαδόπουλος", "Νικόλαος", "nikolaos", "papadopoulos"),
    ("Ольга Смирнова", "Ольга", "olga", "smirnova"),
    ("佐藤 美咲", "美咲", "misaki", "sato"),
    ("Siobhán Ó Briain", "Siobhán", "siobhan", "obriain"),
    ("Håkon Løvås", "Håkon", "hakon", "lovas"),
    ("Zsófia Kovács", "Zsófia", "zsofia", "kovacs"),
    ("Raphaël Crépin", "Raphaël", "raphael", "crepin"),
)

# country code -> (name in prose, lang, currency, legal forms, phone prefix, UTC offset hours, VAT prefix)
_COUNTRIES: dict[str, tuple[str, str, str, tuple[str, ...], str, int, str]] = {
    "DE": ("Germany", "de", "EUR", ("GmbH", "UG", "GmbH & Co. KG", "e.K."), "+49", 1, "DE"),
    "AT": ("Austria", "de", "EUR", ("GmbH", "e.U."), "+43", 1, "ATU"),
    "CH": ("Switzerland", "de", "CHF", ("AG", "GmbH", "Sàrl"), "+41", 1, "CHE-"),
    "FR": ("France", "fr", "EUR", ("SARL", "SAS", "EURL"), "+33", 1, "FR"),
    "BE": ("Belgium", "fr", "EUR", ("SRL", "BV", "SA"), "+32", 1, "BE0"),
    "NL": ("the Netherlands", "en", "EUR", ("B.V.", "V.O.F."), "+31", 1, "NL"),
    "GB": ("the UK", "en", "GBP", ("Ltd", "Limited", "LLP"), "+44", 0, "GB"),
    "IE": ("Ireland", "en", "EUR", ("Ltd", "Teoranta"), "+353", 0, "IE"),
    "ES": ("Spain", "en", "EUR", ("S.L.", "S.A."), "+34", 1, "ES"),
    "IT": ("Italy", "en", "EUR", ("S.r.l.", "S.p.A."), "+39", 1, "IT"),
    "SE": ("Sweden", "en", "SEK", ("AB",), "+46", 1, "SE"),
    "DK": ("Denmark", "en", "DKK", ("ApS", "A/S"), "+45", 1, "DK"),
    "PL": ("Poland", "en", "PLN", ("Sp. z o.o.", "S.A."), "+48", 1, "PL"),
    "US": ("the US", "en", "USD", ("LLC", "Inc."), "+1", -5, "US"),
}
_COUNTRY_CODES = tuple(_COUNTRIES)
_COUNTRY_WEIGHTS = (18, 5, 4, 12, 4, 8, 14, 3, 5, 5, 4, 3, 4, 8)

_CO_WORDS = (
    "Copper", "Blue Heron", "Little", "Golden", "Silver Birch", "Oak & Ember", "Harbour", "Kettle",
    "Juniper", "Alder", "Maple", "Saffron", "Linden", "Fjord", "Atlas", "Cobalt", "Meadow", "Ember",
    "Lumen", "Pebble", "Tidal", "Willow", "Quill", "Nimbus", "Sable", "Fern", "Hazel", "Cedar", "Aster",
    "Marlow", "Brook", "Bramble", "Ivy", "North Street", "Red Lantern", "Wildflower", "Paper Moon",
)  # fmt: skip
_CO_TRADES = (
    "Coffee", "Ceramics", "Books", "Cycles", "Outfitters", "Studio", "Apparel", "Tea Company", "Bakery",
    "Press", "Goods", "Supply", "Analytics", "Software", "Travel", "Events", "Pet Supplies", "Wines",
    "Candles", "Fitness", "Interiors", "Games", "Optics", "Garden", "Print", "Labs", "Toys", "Skincare",
)  # fmt: skip
_CO_DE = ("Feinkost {last}", "{last} Handel", "Weinhaus {last}", "Bäckerei {last}", "{last} & Söhne")
_CO_FR = (
    "Maison {last}",
    "Atelier {first}",
    "La Petite Boutique",
    "Les Jardins de {first}",
    "Librairie {last}",
)
_PRODUCTS = (
    "handmade ceramics", "specialty coffee", "second-hand books", "bike parts", "outdoor clothing",
    "event tickets", "online courses", "pet food", "natural skincare", "board games", "furniture",
    "software licences", "wine", "plants and seeds", "phone accessories", "yoga classes",
)  # fmt: skip
_BUSINESS_TYPES = (
    "online bookshop", "coffee roastery", "yoga studio", "bike shop", "furniture store", "language school",
    "software company", "florist", "ticketing platform", "pet supplies shop", "skincare brand",
    "wine merchant",
)  # fmt: skip
_TITLES = (
    "Owner", "Founder", "Managing Director", "Head of Finance", "Operations Manager", "Customer Service",
    "CTO", "Developer", "E-commerce Manager", "Accounts", "Co-founder & CEO", "Office Manager",
)  # fmt: skip
_TITLES_DE = ("Geschäftsführer", "Geschäftsführerin", "Buchhaltung", "Inhaber")
_TITLES_FR = ("Gérante", "Gérant", "Responsable e-commerce", "Comptabilité")

_CLIENTS = ("gmail", "outlook", "apple", "thunderbird", "webmail")
_CLIENT_WEIGHTS = (34, 33, 15, 8, 10)

# --------------------------------------------------------------------------------------------------
# Slot values
# --------------------------------------------------------------------------------------------------

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip
_MONTHS_DE = (
    "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
    "November", "Dezember",
)  # fmt: skip
_MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
    "novembre", "décembre",
)  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BRANDS = ("Visa", "Mastercard", "American Express", "Maestro", "Cartes Bancaires", "JCB", "Discover")
_DECLINES = (
    "do_not_honor", "insufficient_funds", "generic_decline", "card_not_supported", "expired_card",
    "incorrect_cvc", "authentication_required", "processing_error", "transaction_not_allowed",
    "issuer_unavailable", "code 05", "code 51", "code 57",
)  # fmt: skip
_METHODS = (
    "Apple Pay", "Google Pay", "SEPA Direct Debit", "iDEAL", "Bancontact", "BLIK", "EPS", "Klarna",
    "TWINT", "bank transfer",
)  # fmt: skip
_API_ERRORS = (
    "401 Unauthorized (invalid_api_key)", "429 Too Many Requests", "400 idempotency_key_in_use",
    "422 parameter_invalid", "500 internal_error", "409 resource_conflict", "403 permission_denied",
    "404 resource_missing", "400 amount_too_small",
)  # fmt: skip
_HTTP = ("400", "401", "403", "404", "409", "422", "429", "500", "502", "503")
_ERR_CODES = (
    "parameter_missing", "amount_too_small", "currency_not_supported", "signature_verification_failed",
    "api_version_unsupported", "idempotency_key_reused", "rate_limit_exceeded", "invalid_request_error",
)  # fmt: skip
_PLUGINS = (
    "WooCommerce", "Shopify", "Magento 2", "PrestaShop", "Shopware 6", "BigCommerce", "OpenCart", "Wix",
    "Squarespace", "Ecwid", "JTL-Shop",
)  # fmt: skip
_SDKS = (
    "Python SDK", "Node.js library", "PHP SDK", "Java SDK", "Ruby gem", ".NET SDK", "Go client",
    "iOS SDK", "Android SDK",
)  # fmt: skip
_EVENTS = (
    "payment.succeeded", "payment.failed", "refund.created", "payout.paid", "dispute.opened",
    "charge.refunded", "checkout.completed", "payout.failed",
)  # fmt: skip
_ENDPOINTS = ("/v1/payments", "/v1/refunds", "/v1/payouts", "/v1/customers", "/v2/checkout/sessions")
_ROLES = ("Admin", "Developer", "Analyst", "Support", "View only", "Finance")
_DOCS = (
    "passport", "national ID card", "proof of address", "utility bill", "bank statement",
    "certificate of incorporation", "Handelsregisterauszug", "Kbis extract", "articles of association",
    "shareholder register", "VAT registration certificate", "driving licence",
)  # fmt: skip
_BANK_NAMES = (
    "Meridian Savings Bank", "Elbe Handelsbank", "Crédit Provençal", "Northgate Bank", "Zuiderbank",
    "Alpenbank", "Baltic Merchant Bank", "Harbourside Bank", "Sparkasse Nordheide", "Banca Lagunare",
)  # fmt: skip
_PLANS = ("Starter", "Growth", "Scale", "Enterprise")
_FEE_ITEMS = (
    "Platform fee", "Cross-border surcharge", "Currency conversion", "Account maintenance",
    "Risk screening fee", "Dispute fee", "Payout fee", "Minimum monthly fee",
)  # fmt: skip
_CITIES = ("Vilnius", "Singapore", "Toronto", "Lisbon", "Manila", "Chicago", "Bucharest", "Dubai", "Lima")
_FOREIGN = ("Brazil", "Canada", "the US", "Japan", "Indonesia", "Mexico", "Turkey", "Australia")
_CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
_B64_TO_ALNUM = str.maketrans("+/", "xQ")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _rand_str(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _alnum(rng: random.Random, n: int) -> str:
    """n random letters and digits (fast: base64 of random bytes)."""
    return base64.b64encode(rng.randbytes(n)).decode("ascii")[:n].translate(_B64_TO_ALNUM)


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _b64_lines(data: bytes) -> str:
    """Base64 in 76-character lines, LF-terminated (MIME body encoding)."""
    s = base64.b64encode(data).decode("ascii")
    return "".join([s[i : i + 76] + "\n" for i in range(0, len(s), 76)])


def _group(v: int, sep: str) -> str:
    return f"{v:,}".replace(",", sep)


def _money(rng: random.Random, currency: str, lo: float, hi: float, lang: str) -> str:
    value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    whole = rng.random() < 0.25 and value > 20
    cents = 0 if whole else round(value * 100) % 100
    units = round(value) if whole else int(value)
    style = rng.random()
    if lang == "de" and currency == "EUR" and style < 0.6:
        return f"{_group(units, '.')},{cents:02d} €" if not whole else f"{_group(units, '.')} €"
    if lang == "fr" and currency == "EUR" and style < 0.6:
        return f"{_group(units, ' ')},{cents:02d} €" if not whole else f"{_group(units, ' ')} €"
    number = f"{_group(units, ',')}" + ("" if whole else f".{cents:02d}")
    symbol = _CURRENCY_SYMBOLS.get(currency)
    if symbol and style < 0.75:
        return f"{symbol}{number}"
    if currency in ("SEK", "DKK") and style < 0.5:
        return f"{_group(units, ' ')} kr"
    if currency == "PLN" and style < 0.5:
        return f"{_group(units, ' ')},{cents:02d} zł"
    return f"{number} {currency}" if style < 0.9 else f"{currency} {number}"


def _text_date(rng: random.Random, lang: str) -> str:
    day = rng.randint(1, 28)
    month = rng.randrange(12)
    year = rng.choice((2024, 2025))
    style = rng.random()
    if lang == "de" and style < 0.4:
        return f"{day:02d}.{month + 1:02d}.{year}"
    if lang == "fr" and style < 0.4:
        return f"{day:02d}/{month + 1:02d}/{year}"
    if style < 0.35:
        return f"{day} {_MONTHS[month]}"
    if style < 0.55:
        return f"{_MONTHS[month]} {day}"
    if style < 0.7:
        return f"{year}-{month + 1:02d}-{day:02d}"
    if style < 0.85:
        return f"{_WEEKDAYS[rng.randrange(5)]} {day} {_MONTHS[month]}"
    return f"{day:02d}/{month + 1:02d}"


def _version(rng: random.Random) -> str:
    return f"{rng.randint(1, 8)}.{rng.randint(0, 14)}.{rng.randint(0, 9)}"


def _order_id(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"#{rng.randint(10000, 999999)}"
    if style == 1:
        return f"ORD-{rng.randint(100000, 999999)}"
    if style == 2:
        return str(rng.randint(1000, 99999))
    if style == 3:
        return f"SO-{rng.choice((2024, 2025))}-{rng.randint(1000, 99999):05d}"
    return f"{_rand_str(rng, 'ABCDEFGHJKLMNPQRSTUVWXYZ', 2)}{rng.randint(100000, 999999)}"


def _log_line(rng: random.Random) -> str:
    return (
        f"{rng.choice(('POST', 'GET'))} {rng.choice(_ENDPOINTS)} -> {rng.choice(_HTTP)} "
        f"({rng.randint(40, 30000)} ms) req_{_alnum(rng, 14)}"
    )


class _Slots(dict[str, str]):
    """Slot values, drawn on first use: an email uses one value per slot name."""

    __slots__ = ("persona", "rng")

    def __init__(self, rng: random.Random, persona: _Persona) -> None:
        super().__init__()
        self.rng = rng
        self.persona = persona

    def __missing__(self, key: str) -> str:
        value = _SLOT_MAKERS[key](self)
        self[key] = value
        return value


def _other_currency(s: _Slots) -> str:
    cur = s["currency"]
    return s.rng.choice([c for c in ("EUR", "USD", "GBP", "CHF", "SEK") if c != cur])


def _vat_id(s: _Slots) -> str:
    prefix = _COUNTRIES[s.persona.country][6]
    return f"{prefix}{s.rng.randint(100000000, 999999999)}"


_SLOT_MAKERS: dict[str, Callable[[_Slots], str]] = {
    "amount": lambda s: _money(s.rng, s.persona.currency, 8, 2500, s.persona.lang),
    "amount_small": lambda s: _money(s.rng, s.persona.currency, 0.5, 45, s.persona.lang),
    "amount_big": lambda s: _money(s.rng, s.persona.currency, 900, 90000, s.persona.lang),
    "amount_big2": lambda s: _money(s.rng, s.persona.currency, 900, 90000, s.persona.lang),
    "currency": lambda s: s.persona.currency,
    "currency2": _other_currency,
    "order": lambda s: _order_id(s.rng),
    "txn": lambda s: "txn_" + _alnum(s.rng, 16),
    "payout_id": lambda s: "po_" + _alnum(s.rng, 14),
    "dispute_id": lambda s: "dp_" + _alnum(s.rng, 12),
    "refund_id": lambda s: "re_" + _alnum(s.rng, 12),
    "req_id": lambda s: "req_" + _alnum(s.rng, 14),
    "acct": lambda s: "acct_" + _alnum(s.rng, 12).lower(),
    "invoice": lambda s: f"INV-{s.rng.choice((2024, 2025))}-{s.rng.randint(1, 99999):05d}",
    "date": lambda s: _text_date(s.rng, s.persona.lang),
    "date2": lambda s: _text_date(s.rng, s.persona.lang),
    "month": lambda s: s.rng.choice(_MONTHS),
    "last4": lambda s: f"{s.rng.randint(0, 9999):04d}",
    "last4b": lambda s: f"{s.rng.randint(0, 9999):04d}",
    "iban_tail": lambda s: f"{s.rng.randint(0, 9999):04d}",
    "brand": lambda s: s.rng.choice(_BRANDS),
    "decline": lambda s: s.rng.choice(_DECLINES),
    "method": lambda s: s.rng.choice(_METHODS),
    "api_error": lambda s: s.rng.choice(_API_ERRORS),
    "http_status": lambda s: s.rng.choice(_HTTP),
    "err_code": lambda s: s.rng.choice(_ERR_CODES),
    "plugin": lambda s: s.rng.choice(_PLUGINS),
    "sdk": lambda s: s.rng.choice(_SDKS),
    "version": lambda s: _version(s.rng),
    "php": lambda s: s.rng.choice(("7.4", "8.1", "8.2", "8.3")),
    "event": lambda s: s.rng.choice(_EVENTS),
    "endpoint": lambda s: s.rng.choice(_ENDPOINTS),
    "log_line": lambda s: _log_line(s.rng),
    "role": lambda s: s.rng.choice(_ROLES),
    "doc": lambda s: s.rng.choice(_DOCS),
    "bank": lambda s: s.rng.choice(_BANK_NAMES),
    "plan": lambda s: s.rng.choice(_PLANS),
    "plan2": lambda s: s.rng.choice([p for p in _PLANS if p != s["plan"]]),
    "fee": lambda s: _fee(s),
    "fee2": lambda s: _fee(s),
    "fee_item": lambda s: s.rng.choice(_FEE_ITEMS),
    "vat_id": _vat_id,
    "reg_no": lambda s: f"{s.rng.choice(('HRB ', 'RCS ', '', 'No. '))}{s.rng.randint(10000, 9999999)}",
    "n": lambda s: str(s.rng.randint(5, 60)),
    "n2": lambda s: str(s.rng.randint(70, 400)),
    "n_small": lambda s: str(s.rng.randint(2, 6)),
    "days": lambda s: str(s.rng.randint(3, 14)),
    "years": lambda s: str(s.rng.randint(2, 9)),
    "pct": lambda s: str(s.rng.randint(3, 45)),
    "ip": lambda s: f"203.0.113.{s.rng.randint(1, 254)}",
    "city": lambda s: s.rng.choice(_CITIES),
    "country": lambda s: s.rng.choice(_FOREIGN),
    "merchant_country": lambda s: _COUNTRIES[s.persona.country][0],
    "company": lambda s: s.persona.company,
    "product": lambda s: s.persona.product,
    "business_type": lambda s: s.rng.choice(_BUSINESS_TYPES),
    "email_self": lambda s: s.persona.address,
    "colleague": lambda s: s.persona.colleague,
    "email_colleague": lambda s: f"{s.persona.colleague.lower()}@{s.persona.domain}",
}


def _fee(s: _Slots) -> str:
    pct = s.rng.choice(("1.2", "1.4", "1.5", "1.8", "2.5", "2.9", "0.9"))
    fixed = s.rng.choice(("0.10", "0.20", "0.25", "0.30"))
    symbol = _CURRENCY_SYMBOLS.get(s.persona.currency)
    return f"{pct}% + {symbol}{fixed}" if symbol else f"{pct}% + {fixed} {s.persona.currency}"


# --------------------------------------------------------------------------------------------------
# Personas and drafts
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Persona:
    name: str
    first: str
    address: str
    company: str
    domain: str
    country: str
    lang: str
    currency: str
    phone: str
    title: str
    product: str
    colleague: str
    client: str
    tz: timezone


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("&", "and"))
    return re.sub(r"[^a-z0-9]+", "", decomposed.encode("ascii", "ignore").decode().lower())


def _phone(rng: random.Random, prefix: str) -> str:
    if prefix == "+44":
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    if prefix == "+1":
        return f"+1 {rng.choice(('212', '415', '312', '617'))} 555 01{rng.randint(0, 99):02d}"
    return f"{prefix} {rng.randint(20, 89)} {rng.randint(100, 9999)} {rng.randint(1000, 9999)}"


def _make_persona(rng: random.Random) -> _Persona:
    country = rng.choices(_COUNTRY_CODES, _COUNTRY_WEIGHTS)[0]
    _, lang, currency, legal_forms, phone_prefix, offset, _ = _COUNTRIES[country]
    if country == "CH" and rng.random() < 0.35:
        lang = "fr"
    firsts: tuple[str, ...]
    lasts: tuple[str, ...]
    if lang == "de":
        firsts, lasts = _FIRST_DE, _LAST_DE
    elif lang == "fr":
        firsts, lasts = _FIRST_FR, _LAST_FR
    else:
        firsts, lasts = _FIRST_EN, _LAST_EN
    if rng.random() < 0.1:
        name, first, ascii_first, ascii_last = rng.choice(_NON_ASCII_NAMES)
    else:
        first, last = rng.choice(firsts), rng.choice(lasts)
        name = f"{first} {last}"
        ascii_first, ascii_last = _ascii_slug(first), _ascii_slug(last)
    style = rng.random()
    other_last = rng.choice(lasts)
    if lang == "de" and style < 0.45:
        base = rng.choice(_CO_DE).format(last=other_last, first=rng.choice(firsts))
    elif lang == "fr" and style < 0.45:
        base = rng.choice(_CO_FR).format(last=other_last, first=rng.choice(firsts))
    elif style < 0.8:
        base = f"{rng.choice(_CO_WORDS)} {rng.choice(_CO_TRADES)}"
    else:
        base = f"{other_last} & {rng.choice(lasts)}" if rng.random() < 0.5 else rng.choice(_CO_WORDS)
        base += f" {rng.choice(_CO_TRADES)}"
    company = f"{base} {rng.choice(legal_forms)}" if rng.random() < 0.75 else base
    domain = _ascii_slug(base)[:24] + rng.choice(("", "", "", "-shop", "-store", "hq")) + ".example"
    local_style = rng.random()
    if local_style < 0.3:
        local = ascii_first
    elif local_style < 0.6:
        local = f"{ascii_first}.{ascii_last}"
    elif local_style < 0.72:
        local = f"{ascii_first[0]}.{ascii_last}"
    else:
        local = rng.choice(("info", "hello", "accounts", "billing", "shop", "office", "finance", "contact"))
    if lang == "de":
        title = rng.choice(_TITLES + _TITLES_DE)
    elif lang == "fr":
        title = rng.choice(_TITLES + _TITLES_FR)
    else:
        title = rng.choice(_TITLES)
    return _Persona(
        name=name,
        first=first,
        address=f"{local}@{domain}",
        company=company,
        domain=domain,
        country=country,
        lang=lang,
        currency=currency,
        phone=_phone(rng, phone_prefix),
        title=title,
        product=rng.choice(_PRODUCTS),
        colleague=rng.choice(firsts),
        client=rng.choices(_CLIENTS, _CLIENT_WEIGHTS)[0],
        tz=timezone(timedelta(hours=offset)),
    )


@dataclass(slots=True)
class _Draft:
    label: str
    secondary: str | None
    subject: str
    greeting: str | None
    paragraphs: list[str]
    signoff: list[str]
    signature: list[str] | None
    quote_header: str | None = None
    quote_lines: list[str] = field(default_factory=list)
    traits: set[str] = field(default_factory=set)

    def new_text(self) -> str:
        """The message without quoted history: greeting, paragraphs, sign-off, signature."""
        parts: list[str] = []
        if self.greeting:
            parts.append(self.greeting)
        parts.extend(self.paragraphs)
        if self.signoff:
            parts.append("\n".join(self.signoff))
        text = "\n\n".join(parts)
        if self.signature:
            text += "\n\n-- \n" + "\n".join(self.signature)
        return text

    def text(self) -> str:
        text = self.new_text()
        if self.quote_header:
            quoted = "\n".join(
                f"> {line}" if line and not line.startswith(">") else f">{line}" for line in self.quote_lines
            )
            text += f"\n\n{self.quote_header}\n{quoted}"
        return text


_TYPO_WORD = re.compile(r"(?<![\w@./-])[A-Za-z]{4,}(?![\w@./-])")
_TRAILING_PUNCT = re.compile(r"[.!?;:,]+(?=\s|$)")
_TOKEN = re.compile(r"\S+")


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if rng.random() < 0.8:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(text: str, rng: random.Random, rate: float = 0.03) -> str:
    """Swap, drop or double a letter in some words of four letters or more (never inside ids/addresses)."""
    out = _TYPO_WORD.sub(lambda m: _typo(m.group(0), rng) if rng.random() < rate else m.group(0), text)
    if out == text:
        words = list(_TYPO_WORD.finditer(text))
        if words:
            m = max(words, key=lambda w: len(w.group(0)))
            out = text[: m.start()] + _typo(m.group(0), rng) + text[m.end() :]
    return out


def _casual(text: str) -> str:
    """Lower case and no sentence punctuation, as typed on a phone. Ids keep their case."""
    lowered = _TOKEN.sub(lambda m: m.group(0) if re.search(r"[\d_@]", m.group(0)) else m.group(0).lower(), text)
    return _TRAILING_PUNCT.sub("", lowered)


def _fill(template: str, slots: _Slots) -> str:
    return template.format_map(slots)


def _quote_date(rng: random.Random, lang: str) -> str:
    day, month, year = rng.randint(1, 28), rng.randrange(12), rng.choice((2024, 2025))
    hh, mm = rng.randint(7, 19), rng.randrange(60)
    if lang == "de":
        return f"Am {day:02d}.{month + 1:02d}.{year} um {hh:02d}:{mm:02d}"
    if lang == "fr":
        return f"Le {day} {_MONTHS_FR[month]} {year} à {hh:02d}:{mm:02d}"
    return f"On {_WEEKDAYS[rng.randrange(7)][:3]}, {day} {_MONTHS[month][:3]} {year} at {hh:02d}:{mm:02d}"


def _attribution(prefix: str, who: str) -> str:
    if prefix.startswith("Am "):
        return f"{prefix} schrieb {who}:"
    if prefix.startswith("Le "):
        return f"{prefix}, {who} a écrit :"
    return f"{prefix}, {who} wrote:"


def _compose(
    rng: random.Random,
    label: str,
    persona: _Persona,
    *,
    ambiguous: bool,
    support_address: str,
) -> _Draft:
    """One first-contact email from ``persona`` about ``label``."""
    slots = _Slots(rng, persona)
    bank = _BANKS[label]
    traits: set[str] = set()
    secondary: str | None = None
    native = persona.lang != "en" and rng.random() < 0.6
    if ambiguous:
        options = [a for a in _AMBIGUOUS if a[0] == label]
        _, secondary, amb_subjects, problem_t = rng.choice(options)
        traits.add("ambiguous")
        if rng.random() < 0.5:
            subject_t = rng.choice(amb_subjects)
        elif rng.random() < 0.5:
            subject_t = rng.choice(_BANKS[secondary].subjects)
        else:
            subject_t = rng.choice(bank.subjects)
    else:
        problem_t, problem_subjects = rng.choice(bank.problems)
        roll = rng.random()
        if native and roll < 0.4:
            subject_t = rng.choice(bank.subjects_de if persona.lang == "de" else bank.subjects_fr)
        elif roll < 0.06:
            subject_t = rng.choice(_GENERIC_SUBJECTS)
        elif roll < 0.25:
            subject_t = rng.choice(bank.subjects)
        else:
            subject_t = rng.choice(problem_subjects)
    subject = _fill(subject_t, slots)
    if rng.random() < 0.08:
        subject = subject.lower()
    elif rng.random() < 0.04:
        subject = rng.choice(("URGENT: ", "Urgent - ", "Important: ")) + subject

    first = _fill(problem_t, slots)
    if rng.random() < 0.3:
        first = _fill(rng.choice(_GENERIC_CONTEXT), slots) + " " + first
    paragraphs = [first]
    if rng.random() < 0.6:
        details = rng.sample(bank.details, k=1 if rng.random() < 0.7 else 2)
        paragraphs.append(" ".join(_fill(d, slots) for d in details))
    if rng.random() < 0.85:
        specific = not ambiguous and rng.random() < 0.7
        ask = _fill(rng.choice(bank.asks), slots) if specific else rng.choice(_GENERIC_ASKS)
        if len(paragraphs) > 1 and rng.random() < 0.4:
            paragraphs[-1] += " " + ask
        else:
            paragraphs.append(ask)
    if rng.random() < 0.1:
        paragraphs = [" ".join(paragraphs)]

    greeting: str | None
    g = rng.random()
    if native:
        greeting = rng.choice(_GREETINGS_DE if persona.lang == "de" else _GREETINGS_FR)
        traits.add("german" if persona.lang == "de" else "french")
    elif g < 0.04:
        greeting = rng.choice(_GREETINGS_DE)
        traits.add("german")
    elif g < 0.07:
        greeting = rng.choice(_GREETINGS_FR)
        traits.add("french")
    elif g < 0.14:
        greeting = None
    else:
        greeting = rng.choice(_GREETINGS_EN)

    if native and persona.lang == "de":
        signoff_word = rng.choice(_SIGNOFFS_DE)
    elif native:
        signoff_word = rng.choice(_SIGNOFFS_FR)
    else:
        signoff_word = rng.choice(_SIGNOFFS_EN)
    roll = rng.random()
    name_line = persona.first if roll < 0.6 else persona.name if roll < 0.92 else persona.first[0]
    signoff = [signoff_word, name_line] if rng.random() < 0.9 else [name_line]

    if rng.random() < 0.08:
        traits.add("lowercase")
        paragraphs = [_casual(p) for p in paragraphs]
        signoff = [_casual(line) for line in signoff]
        if greeting:
            greeting = _casual(greeting)
    if rng.random() < 0.15:
        traits.add("typos")
        paragraphs = [_add_typos(p, rng) for p in paragraphs]

    signature: list[str] | None = None
    if rng.random() < 0.35:
        traits.add("signature")
        signature = [persona.name]
        if rng.random() < 0.7:
            signature.append(persona.title)
        signature.append(persona.company)
        signature.append(persona.phone)
        if rng.random() < 0.5:
            signature.append(f"www.{persona.domain}")

    draft = _Draft(label, secondary, subject, greeting, paragraphs, signoff, signature, traits=traits)
    if rng.random() < 0.15:
        traits.add("quoted")
        lang = persona.lang if native else "en"
        prefix = _quote_date(rng, lang)
        if rng.random() < 0.6:
            agent = rng.choice(_AGENTS)
            draft.quote_header = _attribution(prefix, f"{agent} <{support_address}>")
            replies = _AGENT_ASKS[label] if rng.random() < 0.7 else _AGENT_REPLIES
            lines = _wrap(rng.choice(replies), 72)
            lines += ["", "Best,", agent, "Customer Support"]
            if rng.random() < 0.5:
                earlier = _wrap(_fill(rng.choice(bank.problems)[0], _Slots(rng, persona)), 70)
                who = f"{persona.name} <{persona.address}>"
                lines += ["", _attribution(_quote_date(rng, "en"), who), *(f"> {line}" for line in earlier)]
        else:
            draft.quote_header = _attribution(prefix, f"{persona.name} <{persona.address}>")
            lines = _wrap(_fill(rng.choice(bank.problems)[0], _Slots(rng, persona)), 72)
        draft.quote_lines = lines
    return draft


def _to_support_email(d: _Draft, persona: _Persona) -> SupportEmail:
    return SupportEmail(
        label=d.label,
        subject=d.subject,
        body=d.text(),
        from_name=persona.name,
        from_address=persona.address,
        company=persona.company,
        secondary_label=d.secondary,
        traits=frozenset(d.traits),
    )


def _new_rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - synthetic data, not security


def _allocate(n: int, rng: random.Random) -> dict[str, int]:
    """Split n over the areas by weight with a little seeded jitter; every area gets at least one."""
    weights = {a: w * rng.uniform(0.93, 1.07) for a, w in _AREA_WEIGHTS.items()}
    total = sum(weights.values())
    exact = {a: n * w / total for a, w in weights.items()}
    counts = {a: int(v) for a, v in exact.items()}
    for a in sorted(exact, key=lambda a: exact[a] - counts[a], reverse=True)[: n - sum(counts.values())]:
        counts[a] += 1
    if n >= len(AREAS):
        for a in AREAS:
            if counts[a] == 0:
                donor = max(counts, key=lambda k: counts[k])
                counts[donor] -= 1
                counts[a] = 1
    return counts


def labelled_examples(n: int = 1600, *, seed: int = 7) -> list[SupportEmail]:
    """``n`` labelled support emails over all :data:`AREAS`, shuffled, about 10% of them ambiguous."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = _new_rng(seed)
    labels = [a for a, c in _allocate(n, rng).items() for _ in range(c)]
    rng.shuffle(labels)
    support = "support@support.example.com"
    out: list[SupportEmail] = []
    for label in labels:
        persona = _make_persona(rng)
        draft = _compose(rng, label, persona, ambiguous=rng.random() < 0.1, support_address=support)
        out.append(_to_support_email(draft, persona))
    return out


def as_rows(examples: Iterable[SupportEmail]) -> list[dict[str, str]]:
    """Rows with keys subject, body, label and text (subject + blank line + body)."""
    return [{"subject": e.subject, "body": e.body, "label": e.label, "text": e.text} for e in examples]


def write_labelled_csv(path: str | PathLike[str], examples: Iterable[SupportEmail]) -> int:
    """Write ``examples`` as UTF-8 CSV (columns text, label, subject, body); returns the row count."""
    rows = as_rows(examples)
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label", "subject", "body"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# --------------------------------------------------------------------------------------------------
# Raw RFC 5322 messages
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Sent:
    """A customer message already in the stream, for replies and auto-replies to refer to."""

    message_id: str
    references: list[str]
    subject: str
    persona: _Persona
    label: str
    text: str
    date: datetime


def _encode_subject(subject: str) -> str:
    """RFC 2047 for non-ASCII subjects: base64 encoded-words of at most 45 octets (75 characters each),
    folded onto continuation lines."""
    if subject.isascii():
        return subject
    words: list[str] = []
    chunk = b""
    for ch in subject:
        b = ch.encode("utf-8")
        if len(chunk) + len(b) > 45:
            words.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += b
    words.append(chunk.decode("utf-8"))
    return "\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def _encode_address(name: str, address: str, charset: str = "utf-8") -> str:
    if name.isascii():
        return formataddr((name, address))
    try:
        name.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    return formataddr((name, address), charset)


def _fold_ids(ids: Sequence[str]) -> str:
    return "\n ".join(ids)


def _body_part(content_type: str, text: str, charset: str, rng: random.Random, client: str, extra: str = "") -> str:
    """A text part: headers + blank line + encoded body (LF line endings)."""
    if text.isascii() and max(map(len, text.split("\n"))) <= 900 and client != "outlook":
        head = f'Content-Type: {content_type}; charset="{charset}"{extra}\n'
        return f"{head}Content-Transfer-Encoding: 7bit\n\n{text}\n"
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
        data = text.encode(charset)
    if client == "gmail" and content_type == "text/html" and rng.random() < 0.3:
        encoded = _b64_lines(data)
        cte = "base64"
    else:
        encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).decode("ascii")
        if not encoded.endswith("\n"):
            encoded += "\n"
        cte = "quoted-printable"
    head = f'Content-Type: {content_type}; charset="{charset}"{extra}\n'
    return f"{head}Content-Transfer-Encoding: {cte}\n\n{encoded}"


_OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" \
xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" \
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" \
xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset={charset}">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}}
@font-face
\t{{font-family:Aptos;}}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{{margin:0cm;
\tfont-size:12.0pt;
\tfont-family:"Aptos",sans-serif;
\tmso-ligatures:standardcontextual;
\tmso-fareast-language:EN-US;}}
a:link, span.MsoHyperlink
\t{{mso-style-priority:99;
\tcolor:#467886;
\ttext-decoration:underline;}}
span.EmailStyle17
\t{{mso-style-type:personal-compose;
\tfont-family:"Aptos",sans-serif;
\tcolor:windowtext;}}
.MsoChpDefault
\t{{mso-style-type:export-only;
\tfont-size:10.0pt;
\tmso-fareast-language:EN-US;}}
@page WordSection1
\t{{size:612.0pt 792.0pt;
\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}}
div.WordSection1
\t{{page:WordSection1;}}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang="{lang}" link="#467886" vlink="#96607D" style="word-wrap:break-word">
<div class="WordSection1">
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _html(d: _Draft, client: str, charset: str, lang_tag: str) -> str:
    blocks: list[str] = ([d.greeting] if d.greeting else []) + d.paragraphs
    sign = d.signoff
    sig = d.signature or []
    quoted = "<br>\n".join(_esc(line) for line in d.quote_lines)
    if client == "outlook":
        out = [_OUTLOOK_HEAD.format(charset=charset, lang=lang_tag)]
        for b in blocks:
            out.append(
                f'<p class="MsoNormal"><span lang="{lang_tag}">{_esc(b)}<o:p></o:p></span></p>\n'
                f'<p class="MsoNormal"><span lang="{lang_tag}"><o:p>&nbsp;</o:p></span></p>\n'
            )
        for line in sign:
            out.append(f'<p class="MsoNormal"><span lang="{lang_tag}">{_esc(line)}<o:p></o:p></span></p>\n')
        if sig:
            out.append(
                '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n<p class="MsoNormal"><b><span '
                'style="font-size:10.0pt;color:#1F3864">'
                + "<br>\n".join(_esc(s) for s in sig)
                + "<o:p></o:p></span></b></p>\n"
            )
        if d.quote_header:
            out.append(
                '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n<div style="border:none;border-top:solid '
                '#E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n<p class="MsoNormal"><span lang="'
                f'{lang_tag}">{_esc(d.quote_header)}<o:p></o:p></span></p>\n</div>\n<p class="MsoNormal">'
                f"{quoted}<o:p></o:p></p>\n"
            )
        out.append("</div>\n</body>\n</html>\n")
        return "".join(out)
    if client == "gmail":
        inner = "\n".join(f"<div>{_esc(b)}</div><div><br></div>" for b in blocks)
        inner += "\n<div>" + "<br>".join(_esc(s) for s in sign) + "</div>"
        if sig:
            inner += (
                '<div><br></div><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" '
                'class="gmail_signature"><div dir="ltr">'
                + "<div>"
                + "</div><div>".join(_esc(s) for s in sig)
                + "</div></div></div>"
            )
        out_g = f'<div dir="ltr">{inner}</div>'
        if d.quote_header:
            out_g += (
                '<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
                f'{_esc(d.quote_header)}<br></div><blockquote class="gmail_quote" style="margin:0px 0px '
                '0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                f"{quoted}</blockquote></div>"
            )
        return out_g + "\n"
    if client == "apple":
        body = "".join(f"<div>{_esc(b)}</div><div><br></div>" for b in blocks)
        body += "<div>" + "<br>".join(_esc(s) for s in sign) + "</div>"
        if sig:
            body += "<div><br></div><div>-- <br>" + "<br>".join(_esc(s) for s in sig) + "</div>"
        if d.quote_header:
            body += (
                f'<div><br><blockquote type="cite"><div>{_esc(d.quote_header)}</div><br>'
                f"<div>{quoted}</div></blockquote></div>"
            )
        return (
            '<html><head><meta http-equiv="content-type" content="text/html; charset='
            f'{charset}"></head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            f'line-break: after-white-space;">{body}</body></html>\n'
        )
    # thunderbird and webmail
    parts = [f"<p>{_esc(b)}</p>" for b in blocks]
    parts.append("<p>" + "<br>\n".join(_esc(s) for s in sign) + "</p>")
    if sig:
        parts.append('<pre class="moz-signature" cols="72">-- \n' + "\n".join(_esc(s) for s in sig) + "</pre>")
    if d.quote_header:
        parts.append(
            f'<div class="moz-cite-prefix">{_esc(d.quote_header)}<br></div>\n'
            f'<blockquote type="cite">{quoted}</blockquote>'
        )
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; '
        f'charset={charset}">\n</head>\n<body>\n' + "\n".join(parts) + "\n</body>\n</html>\n"
    )


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _flowed(text: str) -> str:
    """Soft-wrap long lines as format=flowed does (trailing space = soft break); the attribution line
    and quoted lines stay as they are."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= 76 or line.startswith(">") or line == "-- " or line.endswith(":"):
            out.append(line)
        else:
            wrapped = _wrap(line, 72)
            out.extend(w + " " for w in wrapped[:-1])
            out.append(wrapped[-1])
    return "\n".join(out)


# Attachments -------------------------------------------------------------------------------------

_ATTACH_NAMES: dict[str, tuple[str, ...]] = {
    "payments": ("checkout_error.png", "Screenshot {stamp}.png", "declines_export.txt"),
    "refunds_disputes": ("proof_of_delivery_{ref}.pdf", "customer_emails.pdf", "tracking.png"),
    "payouts": ("bank_statement_{month}.pdf", "Kontoauszug_{month_de}.pdf", "payout_report.txt"),
    "billing": ("invoice_{ref}.pdf", "Rechnung_{ref}.pdf", "fees_{month}.txt"),
    "account_access": ("login_error.png", "Screenshot {stamp}.png", "console.txt"),
    "identity_verification": (
        "passport_scan.pdf",
        "certificate_of_incorporation.pdf",
        "Handelsregisterauszug.pdf",
        "proof_of_address.png",
    ),
    "integrations": ("webhook.log", "api_errors.txt", "stacktrace.txt", "console.png"),
    "fraud": ("suspicious_orders.txt", "ip_list.txt", "Screenshot {stamp}.png"),
}


def _png(rng: random.Random, size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    w, h = rng.randint(300, 1600), rng.randint(200, 1000)
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes((8, 6, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", rng.randbytes(max(size - 57, 16)))
        + chunk(b"IEND", b"")
    )


def _pdf(rng: random.Random, size: int) -> bytes:
    head = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
    )
    payload = rng.randbytes(max(size - 400, 64))
    stream = b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(payload) + payload
    tail = b"\nendstream\nendobj\nxref\n0 5\ntrailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(head) + len(stream)
    )
    return head + stream + tail


def _export_line(rng: random.Random, label: str, stamp: str, currency: str) -> str:
    amount = f"{rng.uniform(1, 400):.2f} {currency}"
    if label == "fraud":
        return (
            f"{stamp},{_order_id(rng)},{_alnum(rng, 8).lower()}@mail.example,****{rng.randint(0, 9999):04d},"
            f"203.0.113.{rng.randint(1, 254)},{amount},{rng.choice(('declined', 'succeeded', 'blocked'))}"
        )
    if label == "billing":
        return f"{stamp}  txn_{_alnum(rng, 16)}  {rng.choice(_FEE_ITEMS):<24}  {amount}"
    if label == "payouts":
        status = rng.choice(("paid", "paid", "in_transit", "failed"))
        return f"{stamp}  po_{_alnum(rng, 14)}  {status:<10}  {rng.uniform(500, 30000):.2f} {currency}"
    return f"{stamp} {rng.choice(('INFO', 'WARN', 'ERROR'))} {_log_line(rng)}"


def _log(rng: random.Random, size: int, start: datetime, label: str, currency: str) -> bytes:
    """A text export or log of about ``size`` bytes: 16 timestamped lines, repeated as a retrying
    client (or a careless export) would."""
    t = int(start.timestamp()) - rng.randint(3600, 48 * 3600)
    lines: list[str] = []
    for _ in range(16):
        t += rng.randint(1, 90)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(_export_line(rng, label, stamp, currency) + "\n")
    block = "".join(lines)
    text = block * (size // len(block) + 1)
    cut = text.rfind("\n", 0, size) + 1
    return text[: cut or len(block)].encode("ascii")


def _attachment(rng: random.Random, label: str, size: int, when: datetime, slots: _Slots) -> str:
    name_t = rng.choice(_ATTACH_NAMES[label])
    month = rng.randrange(12)
    name = name_t.format(
        stamp=f"{when:%Y-%m-%d} at {when:%H.%M.%S}",
        ref=slots["invoice"] if label == "billing" else slots["order"].lstrip("#"),
        month=_MONTHS[month],
        month_de=_MONTHS_DE[month],
    )
    if name.endswith(".png"):
        data, ctype = _png(rng, size), "image/png"
    elif name.endswith(".pdf"):
        data, ctype = _pdf(rng, size), "application/pdf"
    else:
        data, ctype = _log(rng, size, when, label, slots.persona.currency), "text/plain"
    if name.isascii():
        params = f'; name="{name}"'
        disp = f'attachment; filename="{name}"'
    else:
        enc = quote(name, safe="")
        params = f";\n name*=utf-8''{enc}"
        disp = f"attachment;\n filename*=utf-8''{enc}"
    if ctype == "text/plain":
        params = '; charset="us-ascii"' + params
    return (
        f"Content-Type: {ctype}{params}\nContent-Disposition: {disp}\nContent-Transfer-Encoding: base64\n\n"
        + _b64_lines(data)
    )


# The stream ---------------------------------------------------------------------------------------


def _boundary(rng: random.Random, client: str) -> str:
    if client == "gmail":
        return "000000000000" + _hex(rng, 12)
    if client == "outlook":
        return f"_000_{_alnum(rng, 28).upper()}_"
    if client == "apple":
        return f"Apple-Mail={_uuid(rng).upper()}"
    if client == "thunderbird":
        return "------------" + _alnum(rng, 24)
    return "=_" + _hex(rng, 32)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _message_id(rng: random.Random, client: str, domain: str, when: datetime) -> str:
    if client == "gmail":
        local = "CA" + _alnum(rng, 44)
    elif client == "outlook":
        local = _alnum(rng, 40).upper()
    elif client == "apple":
        local = _uuid(rng).upper()
    elif client == "thunderbird":
        local = _uuid(rng)
    else:
        local = f"{int(when.timestamp())}.{rng.getrandbits(48):012x}"
    return f"<{local}@{domain}>"


def _ticket_token(rng: random.Random) -> str:
    return "RD-" + _rand_str(rng, _CROCKFORD, 8)


def _subject_of_reply(rng: random.Random, subject: str, lang: str) -> str:
    if re.match(r"(?i)(re|aw|sv|réf?)\s*:", subject):
        return subject
    prefix = "Re: "
    roll = rng.random()
    if roll < 0.08:
        prefix = "RE: "
    elif roll < 0.14 and lang == "de":
        prefix = "AW: "
    return prefix + subject


class _Factory:
    """Builds raw messages for one stream; remembers what it sent so replies can refer back."""

    def __init__(self, rng: random.Random, domain: str, start: datetime) -> None:
        self.rng = rng
        self.domain = domain
        self.support = f"support@{domain}"
        self.now = start
        self.sent: list[_Sent] = []
        self.personas: list[_Persona] = []
        self.queue_id = rng.getrandbits(40)

    # -- time and people
    def tick(self) -> datetime:
        hour = self.now.hour
        mean = 150.0 if 7 <= hour < 19 else 600.0
        self.now += timedelta(seconds=1 + int(self.rng.expovariate(1.0 / mean)))
        return self.now

    def persona(self) -> _Persona:
        if self.personas and self.rng.random() < 0.12:
            return self.rng.choice(self.personas)
        p = _make_persona(self.rng)
        self.personas.append(p)
        if len(self.personas) > 2000:
            del self.personas[:1000]
        return p

    def pick_earlier(self) -> _Sent:
        back = min(int(self.rng.expovariate(1 / 25.0)), len(self.sent) - 1)
        return self.sent[len(self.sent) - 1 - back]

    # -- headers
    def trace_headers(self, host_domain: str, when: datetime, to: str) -> str:
        rng = self.rng
        self.queue_id += rng.randint(1, 5000)
        host = f"mail-{rng.choice(('out', 'smtp', 'mx', 'relay'))}{rng.randint(1, 40)}.{host_domain}"
        ip = f"198.51.100.{rng.randint(1, 254)}"
        date = format_datetime(when)
        earlier = format_datetime(when - timedelta(seconds=rng.randint(1, 4)))
        lines = [
            f"Return-Path: <{to}>",
            f"Received: from {host} ({host} [{ip}])\n\tby mx1.{self.domain} (Postfix) with ESMTPS id "
            f"{self.queue_id:010X}\n\tfor <{self.support}>; {date}",
            f"Received: by {host} with SMTP id {_alnum(rng, 22)}\n\tfor <{self.support}>; {earlier}",
        ]
        if rng.random() < 0.6:
            sig = base64.b64encode(rng.randbytes(256)).decode("ascii")
            lines.append(
                f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={host_domain}; s=mail{when.year};\n"
                f"\tt={int(when.timestamp())}; h=from:to:subject:date:message-id:mime-version;\n"
                f"\tbh={base64.b64encode(rng.randbytes(32)).decode('ascii')};\n"
                f"\tb={sig[:72]}\n\t " + "\n\t ".join(sig[k : k + 76] for k in range(72, len(sig), 76))
            )
        lines.append(
            f"Authentication-Results: mx1.{self.domain};\n\tdkim=pass header.d={host_domain};\n"
            f"\tspf=pass smtp.mailfrom={host_domain}"
        )
        return "\n".join(lines)

    def client_headers(self, p: _Persona, subject: str) -> str:
        rng = self.rng
        if p.client == "outlook":
            idx = base64.b64encode(rng.randbytes(22)).decode("ascii")
            return (
                f"Thread-Topic: {_encode_subject(subject)}\nThread-Index: {idx}\n"
                f"Accept-Language: en-GB, en-US\nContent-Language: en-GB\nX-MS-Has-Attach: \n"
                f"X-MS-TNEF-Correlator: \nX-Mailer: Microsoft Outlook 16.0"
            )
        if p.client == "apple":
            return f"X-Mailer: Apple Mail (2.{rng.randint(3600, 3800)}.{rng.randint(100, 600)}.1.1)"
        if p.client == "thunderbird":
            return f"User-Agent: Mozilla Thunderbird\nContent-Language: {'de-DE' if p.lang == 'de' else 'en-US'}"
        if p.client == "webmail":
            return f"User-Agent: Roundcube Webmail/1.6.{rng.randint(0, 9)}"
        return ""

    # -- messages
    def customer(
        self,
        label: str,
        *,
        reply: bool,
        html_mode: str,
        n_attachments: int,
        max_attach: int = 40_000,
    ) -> bytes:
        rng = self.rng
        when = self.tick()
        in_reply_to: _Sent | None = self.pick_earlier() if reply and self.sent else None
        if in_reply_to is not None:
            p = in_reply_to.persona
            label = in_reply_to.label
            d = self.followup(in_reply_to, p)
            references = [*in_reply_to.references, in_reply_to.message_id][-12:]
        else:
            p = self.persona()
            d = _compose(rng, label, p, ambiguous=rng.random() < 0.1, support_address=self.support)
            references = []
        slots = _Slots(rng, p)
        text = d.text()
        if p.client == "thunderbird":
            text = _flowed(text)
        charset = "utf-8"
        if p.client in ("outlook", "webmail") and rng.random() < 0.35:
            charset = "windows-1252" if p.client == "outlook" else "iso-8859-1"
        msgid = _message_id(rng, p.client, p.domain, when)
        from_h = _encode_address(p.name, p.address, "iso-8859-1" if rng.random() < 0.3 else "utf-8")

        head = [self.trace_headers(p.domain, when, p.address)]
        head.append("MIME-Version: 1.0")
        head.append(f"Date: {format_datetime(when.astimezone(p.tz))}")
        head.append(f"Message-ID: {msgid}")
        if references:
            head.append(f"In-Reply-To: {references[-1]}")
            head.append(f"References: {_fold_ids(references)}")
        head.append(f"Subject: {_encode_subject(d.subject)}")
        head.append(f"From: {from_h}")
        head.append(f"To: {self._to()}")
        if rng.random() < 0.12:
            cc_name = rng.choice((*_FIRST_EN, *_FIRST_DE, *_FIRST_FR))
            cc_addr = f"{_ascii_slug(cc_name)}@{p.domain}"
            head.append(f"Cc: {formataddr((cc_name + ' ' + rng.choice(_LAST_EN), cc_addr))}")
        extra = self.client_headers(p, d.subject)
        if extra:
            head.append(extra)

        lang_tag = {"de": "DE", "fr": "FR"}.get(p.lang, "EN-GB")
        plain = _body_part(
            "text/plain", text, charset, rng, p.client, "; format=flowed" if p.client == "thunderbird" else ""
        )
        if html_mode == "none":
            body_part = plain
        else:
            html_part = _body_part("text/html", _html(d, p.client, charset, lang_tag), charset, rng, p.client)
            if html_mode == "only":
                body_part = html_part
            else:
                b = _boundary(rng, p.client)
                body_part = (
                    f'Content-Type: multipart/alternative; boundary="{b}"\n\n--{b}\n{plain}\n--{b}\n'
                    f"{html_part}\n--{b}--\n"
                )
        if n_attachments:
            b = _boundary(rng, p.client)
            parts = [body_part]
            budget = max_attach
            for i in range(n_attachments):
                size = int(2048 * 20 ** rng.random())
                if i == n_attachments - 1:
                    size = min(size, max(budget, 2048))
                budget -= size
                parts.append(_attachment(rng, label, size, when, slots))
            body_part = (
                f'Content-Type: multipart/mixed; boundary="{b}"\n\n'
                + "".join(f"--{b}\n{part}\n" for part in parts)
                + f"--{b}--\n"
            )
            if p.client == "outlook":
                head = [h.replace("X-MS-Has-Attach: \n", "X-MS-Has-Attach: yes\n") for h in head]
        raw = "\n".join(head) + "\n" + body_part
        self.sent.append(_Sent(msgid, references, d.subject, p, label, text, when))
        if len(self.sent) > 4000:
            del self.sent[:2000]
        return raw.replace("\n", "\r\n").encode("ascii")

    def _to(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.support
        if roll < 0.8:
            return f"Support <{self.support}>"
        return f'"Customer Support" <{self.support}>'

    def followup(self, earlier: _Sent, p: _Persona) -> _Draft:
        rng = self.rng
        slots = _Slots(rng, p)
        bank = _BANKS[earlier.label]
        paragraphs = [_fill(rng.choice(_FOLLOWUPS), slots)]
        if rng.random() < 0.6:
            paragraphs.append(_fill(rng.choice(bank.followups + bank.details), slots))
        if rng.random() < 0.3:
            paragraphs.append(_fill(rng.choice(bank.asks), slots))
        greeting = (
            rng.choice((None, "Hi,", "Hello again,", "Hi,"))
            if p.lang == "en"
            else rng.choice((None, "Hallo,") if p.lang == "de" else (None, "Bonjour,"))
        )
        signoff = [rng.choice(_SIGNOFFS_EN), p.first] if rng.random() < 0.8 else [p.first]
        d = _Draft(
            earlier.label,
            None,
            _subject_of_reply(rng, earlier.subject, p.lang),
            greeting,
            paragraphs,
            signoff,
            None,
        )
        if rng.random() < 0.3:
            d.signature = [p.name, p.company, p.phone]
        when = earlier.date.astimezone(p.tz)
        d.quote_header = (
            f"On {_WEEKDAYS[when.weekday()][:3]}, {when.day} {_MONTHS[when.month - 1][:3]} "
            f"{when.year} at {when:%H:%M}, {p.name} <{p.address}> wrote:"
        )
        lines = earlier.text.split("\n")
        d.quote_lines = lines[:120]
        return d

    def auto_reply(self) -> bytes:
        rng = self.rng
        when = self.tick()
        if self.sent:
            earlier = self.pick_earlier()
            p, subject, refs = earlier.persona, earlier.subject, [earlier.message_id]
        else:
            p = self.persona()
            subject, refs = rng.choice(_BANKS[rng.choice(AREAS)].subjects).format_map(_Slots(rng, p)), []
        ack_id = f"<{_uuid(rng)}@{self.domain}>"
        refs = [*refs, ack_id]
        our_subject = f"[{_ticket_token(rng)}] {_subject_of_reply(rng, subject, 'en')}"
        if p.lang == "de":
            prefix, body = (
                "Abwesenheitsnotiz: ",
                (
                    f"Vielen Dank für Ihre Nachricht. Ich bin bis {_text_date(rng, 'de')} nicht im Büro "
                    f"und lese meine E-Mails nur unregelmäßig. In dringenden Fällen wenden Sie sich bitte an "
                    f"{p.colleague.lower()}@{p.domain}.\n\n{p.name}\n{p.company}"
                ),
            )
        elif p.lang == "fr":
            prefix, body = (
                "Réponse automatique : ",
                (
                    f"Merci pour votre message. Je suis absent(e) jusqu'au {_text_date(rng, 'fr')} "
                    f"et je n'ai qu'un accès limité à mes e-mails. Pour toute urgence, écrivez à "
                    f"{p.colleague.lower()}@{p.domain}.\n\n{p.name}\n{p.company}"
                ),
            )
        else:
            prefix = rng.choice(("Automatic reply: ", "Out of Office: ", "Auto: "))
            body = (
                f"Thanks for your email. I'm out of the office until {_text_date(rng, 'en')} with limited "
                f"access to email. For anything urgent please contact {p.colleague} at "
                f"{p.colleague.lower()}@{p.domain}.\n\nBest regards,\n{p.name}\n{p.company}"
            )
        head = [
            self.trace_headers(p.domain, when, p.address),
            "MIME-Version: 1.0",
            f"Date: {format_datetime(when.astimezone(p.tz))}",
            f"Message-ID: {_message_id(rng, p.client, p.domain, when)}",
            f"In-Reply-To: {ack_id}",
            f"References: {_fold_ids(refs)}",
            f"Subject: {_encode_subject(prefix + our_subject)}",
            f"From: {_encode_address(p.name, p.address)}",
            f"To: {self.support}",
            "Auto-Submitted: auto-replied",
        ]
        if rng.random() < 0.6:
            head.append("X-Autoreply: yes")
        if rng.random() < 0.4:
            head.append("Precedence: auto_reply")
        raw = "\n".join(head) + "\n" + _body_part("text/plain", body, "utf-8", rng, p.client)
        return raw.replace("\n", "\r\n").encode("ascii")

    def bounce(self) -> bytes:
        rng = self.rng
        when = self.tick()
        if self.sent:
            earlier = self.pick_earlier()
            p, subject, orig = earlier.persona, earlier.subject, earlier.message_id
        else:
            p = self.persona()
            subject, orig = "Your request", _message_id(rng, p.client, p.domain, when)
        mx = f"mx{rng.randint(1, 3)}.{p.domain}"
        status, diag = rng.choice(
            (
                ("5.1.1", f"550 5.1.1 <{p.address}>: Recipient address rejected: User unknown"),
                ("5.2.2", f"552 5.2.2 <{p.address}>: Mailbox full"),
                ("5.7.1", "550 5.7.1 Message rejected by recipient policy"),
            )
        )
        ours = f"<{_uuid(rng)}@{self.domain}>"
        sent_at = format_datetime(when - timedelta(seconds=rng.randint(2, 30)))
        b = "=_" + _hex(rng, 24)
        human = (
            f"This is an automatic message from the mail server {mx}.\n\nYour message to {p.address} "
            f"could not be delivered. The receiving server said:\n\n    {diag}\n\nThe message will "
            f"not be retried. Its headers are attached below.\n"
        )
        dsn = (
            f"Reporting-MTA: dns; {mx}\nArrival-Date: {sent_at}\n\nFinal-Recipient: rfc822; {p.address}\n"
            f"Original-Recipient: rfc822;{p.address}\nAction: failed\nStatus: {status}\n"
            f"Remote-MTA: dns; {mx}\nDiagnostic-Code: smtp; {diag}\n"
        )
        our_subject = _encode_subject(f"[{_ticket_token(rng)}] {_subject_of_reply(rng, subject, 'en')}")
        orig_headers = (
            f"Return-Path: <{self.support}>\nFrom: Support <{self.support}>\nTo: {p.address}\n"
            f"Subject: {our_subject}\n"
            f"Date: {sent_at}\nMessage-ID: {ours}\nIn-Reply-To: {orig}\nAuto-Submitted: auto-replied\n"
            'MIME-Version: 1.0\nContent-Type: text/plain; charset="utf-8"\n'
        )
        head = [
            f"Return-Path: <>\nReceived: by {mx} (Postfix)\n\tid {rng.getrandbits(40):010X}; {format_datetime(when)}",
            "MIME-Version: 1.0",
            f"Date: {format_datetime(when.astimezone(p.tz))}",
            f"Message-ID: <{when:%Y%m%d%H%M%S}.{rng.getrandbits(40):010X}@{mx}>",
            f"Subject: {rng.choice(_DSN_SUBJECTS)}",
            f"From: Mail Delivery System <MAILER-DAEMON@{mx}>",
            f"To: {self.support}",
            "Auto-Submitted: auto-replied",
            f'Content-Type: multipart/report; report-type=delivery-status;\n boundary="{b}"',
        ]
        body = (
            f"This is a MIME-encapsulated message.\n\n--{b}\nContent-Description: Notification\n"
            f'Content-Type: text/plain; charset="us-ascii"\n\n{human}\n--{b}\n'
            f"Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n{dsn}\n--{b}\n"
            f"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n"
            f"{orig_headers}\n--{b}--\n"
        )
        raw = "\n".join(head) + "\n\n" + body
        return raw.replace("\n", "\r\n").encode("ascii")


_DSN_SUBJECTS = (
    "Undelivered Mail Returned to Sender",
    "Delivery Status Notification (Failure)",
    "Mail delivery failed: returning message to sender",
)
_DEFAULT_START = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


def generate_emails(
    n: int,
    *,
    seed: int = 11,
    domain: str = "support.example.com",
    reply_share: float = 0.2,
    html_share: float = 0.47,
    attachment_share: float = 0.15,
    auto_share: float = 0.0,
    start: datetime | None = None,
    html_only_share: float = 0.0,
) -> Iterator[tuple[bytes, str | None]]:
    """Yield ``n`` raw inbound messages (CRLF line endings) with their area label (None for automatic mail).

    Replies (``reply_share``) answer an earlier customer message of the same stream: same sender,
    ``Re:`` subject, In-Reply-To/References and the earlier text quoted. ``html_share`` of the messages
    are multipart/alternative; ``html_only_share`` (taken from the rest) are text/html only;
    ``attachment_share`` carry one or two attachments. ``auto_share`` are automatic: out-of-office
    replies and, one in five, delivery status notifications (bounces). The stream is prefix-stable:
    the first k messages do not depend on ``n``.
    """
    for name, value in (
        ("reply_share", reply_share),
        ("html_share", html_share),
        ("attachment_share", attachment_share),
        ("auto_share", auto_share),
        ("html_only_share", html_only_share),
    ):
        _check_share(name, value)
    if n < 0:
        raise ValueError("n must be >= 0")
    if start is None:
        start = _DEFAULT_START
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    rng = _new_rng(seed)
    factory = _Factory(rng, domain, start)
    areas = list(_AREA_WEIGHTS)
    weights = list(_AREA_WEIGHTS.values())
    for _ in range(n):
        if rng.random() < auto_share:
            yield (factory.bounce() if rng.random() < 0.2 else factory.auto_reply()), None
            continue
        label = rng.choices(areas, weights)[0]
        reply = rng.random() < reply_share
        roll = rng.random()
        html_mode = "alt" if roll < html_share else "only" if roll < html_share + html_only_share else "none"
        n_att = (1 if rng.random() < 0.7 else 2) if rng.random() < attachment_share else 0
        raw = factory.customer(label, reply=reply, html_mode=html_mode, n_attachments=n_att)
        yield raw, factory.sent[-1].label


def demo_mailbox(n: int = 60, *, seed: int = 3) -> list[bytes]:
    """The sample mail ``routedesk demo`` loads, oldest first: first contacts over all areas, a few
    replies, an out-of-office auto-reply, a bounce, one HTML-only mail and one with an attachment.

    With ``n >= 5`` every special kind is present, with ``n >= 12`` every area as well.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = _new_rng(seed)
    factory = _Factory(rng, "support.example.com", _DEFAULT_START)
    # First contacts over the areas, then the special kinds (they refer back to earlier mail).
    head = min(n, len(AREAS), max(n - 4, 1))
    rest = n - head
    kinds = ["auto", "bounce", "html_only", "attachment"][:rest]
    kinds += ["reply"] * min(max(rest // 8, 2), rest - len(kinds))
    kinds += ["plain"] * (rest - len(kinds))
    rng.shuffle(kinds)
    first = list(AREAS)
    rng.shuffle(first)
    out: list[bytes] = []
    for area in first[:head]:
        out.append(
            factory.customer(area, reply=False, html_mode="alt" if rng.random() < 0.4 else "none", n_attachments=0)
        )
    for kind in kinds:
        area = rng.choices(list(_AREA_WEIGHTS), list(_AREA_WEIGHTS.values()))[0]
        if kind == "auto":
            out.append(factory.auto_reply())
        elif kind == "bounce":
            out.append(factory.bounce())
        elif kind == "html_only":
            out.append(factory.customer(area, reply=False, html_mode="only", n_attachments=0))
        elif kind == "attachment":
            out.append(factory.customer(area, reply=False, html_mode="none", n_attachments=1, max_attach=12_000))
        elif kind == "reply":
            out.append(factory.customer(area, reply=True, html_mode="none", n_attachments=0))
        else:
            out.append(
                factory.customer(area, reply=False, html_mode="alt" if rng.random() < 0.4 else "none", n_attachments=0)
            )
    return out
