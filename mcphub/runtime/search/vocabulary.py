"""Everyday words people use for the built-in integrations' things, beyond what each description lists.

An integration's description names its objects in its own words ("conversations", "payment intents"); people say
"DM", "inbox", "PR", "wiki". These words feed the integration prior (`SearchIndex.integration_affinity`): a request
that uses them leans toward that integration. General vocabulary of each product, written once, not per request;
an integration not listed here still has the words of its own description.
"""

from __future__ import annotations

INTEGRATION_WORDS: dict[str, str] = {
    "slack": "slack channel channels dm chat workspace emoji reaction thread huddle status reminder",
    "gmail": "gmail email emails mail inbox mailbox unread sender attachment draft spam",
    "google-drive": "drive google file files folder folders doc docs document spreadsheet sheet slides pdf upload",
    "notion": "notion page pages wiki database databases notes block blocks workspace",
    "github": "github repo repos repository repositories pr prs pull request commit branch merge fork workflow "
    "actions gist release code",
    "stripe": "stripe customer customers payment payments invoice invoices refund charge subscription subscriptions "
    "card plan price product coupon payout balance dispute chargeback billing",
    "jira": "jira ticket tickets issue issues jql epic project sprint transition",
    "linear": "linear issue issues cycle cycles project roadmap triage team",
}
