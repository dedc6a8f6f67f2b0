namespace Scheduler.Worker.Gpu;

/// <summary>Where a device sits on the PCI bus: how an NVLink's far end is matched to a GPU of this host.</summary>
internal readonly record struct PciAddress(uint Domain, uint Bus, uint Device);
