"""Push notifications: message building and delivery to FCM."""
