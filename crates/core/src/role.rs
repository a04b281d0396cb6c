use serde::{Deserialize, Serialize};

/// What a user may do. Staff roles see every tenant; a customer sees only
/// its own tenant's objects, and anything else answers as if it did not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Hoster staff: everything, including users and tenants.
    Admin,
    /// Hoster staff: every tenant's servers and sites, no user or tenant admin.
    Operator,
    /// A tenant's user: only that tenant's servers, tasks and audit entries.
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "customer" => Some(Role::Customer),
            _ => None,
        }
    }

    /// Staff act across tenants.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_staff() {
        for r in [Role::Admin, Role::Operator, Role::Customer] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Role::Admin.is_staff() && Role::Operator.is_staff());
        assert!(!Role::Customer.is_staff());
        assert_eq!(Role::parse("root"), None);
    }
}
