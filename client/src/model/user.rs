//! Who a signed-in page is (`--auth jwt`), in words: from the claims `welcome.user` carries.

use gridcast_shared::auth::User;

/// "signed in as alice · may join #ops, #team-* · may not send to everyone".
pub fn signed_in(user: &User) -> String {
    let rooms = if user.rooms.is_empty() {
        "may join no room".to_owned()
    } else {
        let rooms: Vec<String> = user.rooms.iter().map(|r| format!("#{r}")).collect();
        format!("may join {}", rooms.join(", "))
    };
    let everyone = if user.broadcast {
        "may send to everyone"
    } else {
        "may not send to everyone"
    };
    format!("signed in as {} · {rooms} · {everyone}", user.sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_who_and_what_it_may_do() {
        let mut user = User {
            sub: "alice".into(),
            rooms: vec!["ops".into(), "team-*".into()],
            broadcast: false,
            expires: 0,
        };
        assert_eq!(
            signed_in(&user),
            "signed in as alice · may join #ops, #team-* · may not send to everyone"
        );
        user.rooms.clear();
        user.broadcast = true;
        assert_eq!(
            signed_in(&user),
            "signed in as alice · may join no room · may send to everyone"
        );
    }
}
