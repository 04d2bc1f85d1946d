"""The device session in a process of its own (issue 14).

During a store-wide reprice about half of the controller's event loop was MQTT: paho reading
three packets per label (two PUBACKs and a Reported) and writing two (a Desired and a chunk).
That work needs no database and no state, so it runs in a child process (`worker`), with the
same `MqttSession` it would run in the controller; the controller's side (`process`) has the
session's interface (`connected`, `publish`, `publish_all`, `run`) and talks to the child over
a socket pair in frames (`frames`). A second core then takes the MQTT I/O off the controller's.
"""
