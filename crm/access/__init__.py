"""Access functions: the only way the rest of the system reads or changes customer data.

Every function that returns account data to the bot takes a ``VerifiedCustomer``, which only
``identity.require_verified`` can produce, so unverified callers cannot reach it by mistake. What
an RM sees of a customer comes masked from ``rm_view``; the RM handoff reads and writes through
``transitions`` (guarded state moves), ``handoff_queue``, ``visibility``, ``presence``,
``send_keys``, ``notes`` and ``ratings``; consent is written only by ``crm.care_access``.
"""
