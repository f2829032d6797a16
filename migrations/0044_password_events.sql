-- The helpdesk panel lists a person's latest password events from the
-- audit log (portal.PasswordEventActions, the same list: change both
-- together): only those entries are indexed, so that the writes of every
-- other audit entry cost nothing more.
CREATE INDEX audit_log_password_events ON audit_log (target_id, id)
    WHERE target_type = 'person' AND action IN ('password_reset_self_service', 'account_unlocked_self_service',
        'password_changed', 'helpdesk_unlock', 'helpdesk_enable', 'helpdesk_disable', 'helpdesk_password_reset',
        'recovery_code_issued');
