// Keeps sysvmq_test_support a real library while support/ is empty.
