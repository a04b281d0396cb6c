//! `ironrack audit`: the audit log.

use super::Ctx;
use super::resource::{PageArgs, Resource};

const AUDIT: Resource = Resource {
    path: "/audit",
    noun: "audit entry",
    name_key: "id",
    name_filter: None,
    columns: &[
        ("ID", "id"),
        ("AT", "at"),
        ("USER", "user"),
        ("ACTION", "action"),
        ("OBJECT", "object"),
        ("SOURCE", "source"),
        ("RESULT", "result"),
        ("DETAIL", "detail"),
    ],
};

pub async fn run(ctx: &Ctx, page: PageArgs) -> anyhow::Result<()> {
    AUDIT.list(ctx, vec![], Some(&page)).await
}
