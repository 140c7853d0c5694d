//! The UI components. Each reads the [`Connection`](crate::connection::Connection) and the
//! [`Cluster`](crate::cluster::Cluster) from context, renders their signals and calls their
//! actions; none touches a socket or computes more than what to show.

mod clients;
mod composer;
mod grid_panel;
mod header;
mod live;
mod markup;
mod message_list;
mod picker;
mod sidebar;
mod tabs;

pub use composer::Composer;
pub use header::Header;
pub use live::LiveView;
pub use message_list::MessageList;
pub use sidebar::Sidebar;
pub use tabs::{Tab, Tabs};
